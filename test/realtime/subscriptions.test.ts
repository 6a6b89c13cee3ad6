import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRedis } from '../../src/redis.ts';
import { createSubscriptions } from '../../src/realtime/subscriptions.ts';
import { eventually } from '../helpers/api.ts';
import { heardOnEachChannel, subscribingWhileConnecting } from '../helpers/subscriptions.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * A hub subscribes as streams open, and streams open at any moment: right after the API starts
 * (every browser reconnecting after a deploy), or while its subscriber reconnects after a Redis
 * blip. ioredis writes a SUBSCRIBE at once while its connection is still in its handshake, so
 * the handshake's last command, the ready check's INFO, then met a connection in subscriber
 * mode: ioredis took that as fatal, reconnected, and came back with no subscription at all —
 * every stream of the instance silent for good while the hub believed it listened
 * (redis/ioredis#2037). The cluster's case is in test/cluster/redisCluster.test.ts.
 */
let env: TestEnv;
const closers: (() => void)[] = [];

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  for (const close of closers) close();
  await env?.cleanup();
});

it('a subscriber that subscribes while its connection is still in the handshake keeps the subscription', async () => {
  const channels = Array.from({ length: 10 }, (_, i) => `${env.config.REDIS_PREFIX}:handshake:${i}`);
  const subscribers = channels.map((channel) => {
    const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
    closers.push(() => subscriber.disconnect());
    // 'connect' is emitted as the handshake starts: the earliest a stream's open can subscribe.
    subscriber.once('connect', () => void subscriber.subscribe(channel));
    return { subscriber, channels: [channel] };
  });
  expect(await heardOnEachChannel(env.redis, subscribers)).toEqual(channels);
});

it('subscriptions asked one after another in a burst all hold, and one left at once is not subscribed behind its unsubscribe', async () => {
  const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
  closers.push(() => subscriber.disconnect());
  const subscriptions = createSubscriptions(subscriber);
  const channels = await subscribingWhileConnecting(subscriptions, `${env.config.REDIS_PREFIX}:burst`, 40);
  expect(await heardOnEachChannel(env.redis, [{ subscriber, channels }])).toEqual(channels);

  const left = `${env.config.REDIS_PREFIX}:left`;
  const kept = `${env.config.REDIS_PREFIX}:kept`;
  void subscriptions.subscribe([left]);
  void subscriptions.unsubscribe([left]);
  await subscriptions.subscribe([kept]);
  await eventually(async () => {
    const counts = (await env.redis.call('PUBSUB', 'NUMSUB', left, kept)) as (string | number)[];
    return Number(counts[1]) === 0 && Number(counts[3]) === 1;
  });
});
