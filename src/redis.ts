import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections, by role. Producers fail fast when Redis is away (intake must answer, and
 * the outbox sweeper re-enqueues later); workers and subscribers wait and reconnect.
 */
export function createRedis(url: string, role: 'producer' | 'worker' | 'subscriber' | 'command'): Redis {
  const options: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 3_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  if (role === 'producer') {
    options.enableOfflineQueue = false;
    options.maxRetriesPerRequest = 1;
  } else if (role === 'command') {
    options.maxRetriesPerRequest = 1;
  } else {
    // BullMQ workers and pub/sub subscribers block; they must not give up on a command.
    options.maxRetriesPerRequest = null;
  }
  const redis = new Redis(url, options);
  // ioredis emits 'error' on every failed reconnect; callers that care listen themselves.
  redis.on('error', () => {});
  return redis;
}

/** Deletes every key under a prefix (tests, and `npm start --reset`). */
export async function deleteKeysWithPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
