import type { RedisClient } from '../redis.ts';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * A fixed one-second window per service key, counted in Redis so every API instance shares it.
 * If Redis cannot answer, intake is let through: a rate limit must not turn a Redis hiccup
 * into refused events.
 */
export function createRateLimiter(redis: RedisClient, prefix: string, perSecond: number | undefined) {
  return async function consume(keyId: string, count = 1): Promise<RateDecision> {
    if (!perSecond) return { allowed: true };
    const second = Math.floor(Date.now() / 1000);
    const key = `${prefix}:ratelimit:${keyId}:${second}`;
    try {
      const [[, used]] = (await redis.multi().incrby(key, count).expire(key, 2).exec()) as [[null, number]];
      if (used <= perSecond) return { allowed: true };
      return { allowed: false, retryAfterSeconds: 1 };
    } catch {
      return { allowed: true };
    }
  };
}

export type RateLimiter = ReturnType<typeof createRateLimiter>;
