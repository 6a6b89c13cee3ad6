import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisStreamListener } from '../../src/bus/redisStreamListener.ts';
import { trimAcknowledged } from '../../src/bus/streamTrim.ts';
import { eventually } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/** SPEC §8.1: the bus stream drops what was acknowledged over an hour ago; the dead letters keep their newest. */

let env: TestEnv;
const HOUR = 3_600_000;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.cleanup();
});

const idsOf = async (stream: string) => (await env.redis.xrange(stream, '-', '+')).map(([id]) => id);

describe('bus stream trimming', () => {
  it('drops acknowledged entries older than the hour, and keeps pending, unread and young ones', async () => {
    const stream = `${env.config.REDIS_PREFIX}:trim:events`;
    const old = Date.now() - 2 * HOUR;
    for (let i = 1; i <= 6; i++) await env.redis.xadd(stream, `${old}-${i}`, 'event', '{}');
    await env.redis.xgroup('CREATE', stream, 'g', '0');
    // The group reads the first four; 1, 2 and 4 are acknowledged, 3 stays pending.
    await env.redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', 4, 'STREAMS', stream, '>');
    await env.redis.xack(stream, 'g', `${old}-1`, `${old}-2`, `${old}-4`);
    expect(await trimAcknowledged(env.redis, stream, HOUR)).toBe(2);
    // 3 is pending, so it and everything after stay (4 too, though acknowledged: MINID trims a prefix).
    expect(await idsOf(stream)).toEqual([3, 4, 5, 6].map((i) => `${old}-${i}`));

    await env.redis.xack(stream, 'g', `${old}-3`);
    expect(await trimAcknowledged(env.redis, stream, HOUR)).toBe(2);
    // 5 and 6 were never read by the group: they stay however old.
    expect(await idsOf(stream)).toEqual([5, 6].map((i) => `${old}-${i}`));

    // Young entries stay even when read and acknowledged.
    const reply = (await env.redis.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    await env.redis.xack(stream, 'g', ...reply[0]![1].map(([id]) => id));
    const young = await env.redis.xadd(stream, '*', 'event', '{}');
    await env.redis.xreadgroup('GROUP', 'g', 'c', 'STREAMS', stream, '>');
    await env.redis.xack(stream, 'g', young!);
    expect(await trimAcknowledged(env.redis, stream, HOUR)).toBe(2);
    expect(await idsOf(stream)).toEqual([young]);
  });

  it('waits for the slowest group', async () => {
    const stream = `${env.config.REDIS_PREFIX}:twogroups:events`;
    const old = Date.now() - 2 * HOUR;
    for (let i = 1; i <= 3; i++) await env.redis.xadd(stream, `${old}-${i}`, 'event', '{}');
    await env.redis.xgroup('CREATE', stream, 'fast', '0');
    await env.redis.xgroup('CREATE', stream, 'slow', '0');
    await env.redis.xreadgroup('GROUP', 'fast', 'c', 'STREAMS', stream, '>');
    await env.redis.xack(stream, 'fast', `${old}-1`, `${old}-2`, `${old}-3`);
    await env.redis.xreadgroup('GROUP', 'slow', 'c', 'COUNT', 1, 'STREAMS', stream, '>');
    await env.redis.xack(stream, 'slow', `${old}-1`);
    expect(await trimAcknowledged(env.redis, stream, HOUR)).toBe(1);
    expect(await idsOf(stream)).toEqual([`${old}-2`, `${old}-3`]);
  });

  it('is trimmed by the listener, and its dead letters keep their newest', async () => {
    const prefix = `${env.config.REDIS_PREFIX}:live`;
    const stream = `${prefix}:events`;
    const old = Date.now() - 2 * HOUR;
    for (let i = 1; i <= 3; i++) await env.redis.xadd(stream, `${old}-${i}`, 'event', '{}');
    for (let i = 0; i < 5; i++) await env.redis.xadd(stream, '*', 'event', `bad ${i}`);
    const listener = await startRedisStreamListener({
      redis: env.config,
      prefix,
      logger: env.logger,
      claimIdleMs: 200,
      deadLettersKept: 3,
      handle: async (message, _id, deadLetter) => {
        if (message.event !== '{}') await deadLetter('not an event');
        return message.event === '{}' ? 'acked' : 'dead';
      },
    });
    try {
      await eventually(async () => (await env.redis.xlen(`${stream}:dead`)) === 3 && (await idsOf(stream)).every((id) => !id.startsWith(`${old}-`)), 10_000);
      const dead = await env.redis.xrange(`${stream}:dead`, '-', '+');
      expect(dead.map(([, fields]) => fields[fields.indexOf('event') + 1])).toEqual(['bad 2', 'bad 3', 'bad 4']);
      expect(await env.redis.xlen(stream)).toBe(5);
    } finally {
      await listener.close();
    }
  });
});
