import type { RedisClient } from './redis.ts';

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * One sorted set per key holds the times of the uses within the window. Pruning, counting and
 * recording run as one script, so concurrent callers on every API instance cannot both take the
 * last slot; the time is Redis' own, so instances with drifting clocks still agree.
 * Answers 0 when the use is recorded, else the milliseconds until the oldest use leaves the window.
 */
const SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`;

/**
 * At most `limit` uses per key in any `windowSeconds` (a sliding window, so no burst of twice the
 * limit across a window's edge), counted in Redis under `<prefix>:<name>:<key>` so that every API
 * instance shares it. A Redis failure is thrown: a limit that lapses whenever Redis does would be
 * no protection against the abuse it is there for.
 */
export function createSlidingWindowLimiter(redis: RedisClient, options: { prefix: string; name: string; limit: number; windowSeconds: number }) {
  const windowMs = options.windowSeconds * 1000;
  return async function consume(key: string): Promise<LimitDecision> {
    const waitMs = (await redis.eval(SCRIPT, 1, `${options.prefix}:${options.name}:${key}`, windowMs, options.limit, Math.random().toString(36).slice(2))) as number;
    return waitMs === 0 ? { allowed: true } : { allowed: false, retryAfterSeconds: Math.ceil(waitMs / 1000) };
  };
}

export type SlidingWindowLimiter = ReturnType<typeof createSlidingWindowLimiter>;
