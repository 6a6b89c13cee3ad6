import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedis } from '../../src/redis.ts';
import { eventually } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * A hub subscribes as streams open, and streams open at any moment: right after the API starts
 * (every browser reconnecting after a deploy), or while its subscriber reconnects after a Redis
 * blip. ioredis writes a SUBSCRIBE at once while its connection is still in its handshake, so
 * the handshake's last command, the ready check's INFO, then meets a connection in subscriber
 * mode: ioredis took that as a fatal error, reconnected, and came back with no subscription at
 * all — every stream of the instance silent for good, while the hub believed it was listening
 * (redis/ioredis#2037). The subscriber role's connections must keep what they subscribe in
 * that window.
 */
let env: TestEnv;
const subscribers: Redis[] = [];

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  for (const subscriber of subscribers) subscriber.disconnect();
  await env?.cleanup();
});

it('a subscriber that subscribes while its connection is still in the handshake keeps the subscription', async () => {
  const channels = Array.from({ length: 10 }, (_, i) => `${env.config.REDIS_PREFIX}:handshake:${i}`);
  const received = new Map<string, string[]>();
  for (const channel of channels) {
    const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
    subscribers.push(subscriber);
    received.set(channel, []);
    subscriber.on('message', (from: string, message: string) => received.get(from)?.push(message));
    // 'connect' is emitted as the handshake starts: the earliest a stream's open can subscribe.
    subscriber.once('connect', () => void subscriber.subscribe(channel));
  }
  // Redis itself must count each channel's subscriber, not only the client believe it has one.
  await eventually(async () => {
    const counts = (await env.redis.call('PUBSUB', 'NUMSUB', ...channels)) as (string | number)[];
    return channels.every((_, i) => Number(counts[2 * i + 1]) === 1) && subscribers.every((s) => s.status === 'ready');
  });
  for (const channel of channels) await env.redis.publish(channel, `to ${channel}`);
  await eventually(async () => channels.every((channel) => received.get(channel)!.length === 1));
  expect([...received.values()].flat()).toEqual(channels.map((channel) => `to ${channel}`));
});
