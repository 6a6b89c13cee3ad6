import type { RedisClient } from '../redis.ts';

/** SPEC §7.1: a user's open live streams, across every API instance. */
export const STREAMS_PER_USER = 16;

/** How long a stream closed for being the oldest waits before it comes back (and in turn closes the then oldest). */
export const CLOSED_OLDEST_RETRY_MS = 60_000;

/** A stream entry left by an instance that died is forgotten after this long without a new stream of the user. */
const ENTRY_TTL_SECONDS = 24 * 3_600;

/**
 * Registers a user's new stream and returns the streams it pushes past the limit, oldest
 * first, for their holders to close. One sorted set per user, by opening time; the add and the
 * trim are one transaction, so two streams opening at once on two instances cannot both keep
 * the 17th. A dead instance's entries are the oldest, so they are the first trimmed.
 */
export async function registerStream(redis: RedisClient, prefix: string, userId: string, streamId: string): Promise<string[]> {
  const key = streamsKey(prefix, userId);
  const results = await redis
    .multi()
    .zadd(key, Date.now(), streamId)
    .expire(key, ENTRY_TTL_SECONDS)
    .zrange(key, 0, -(STREAMS_PER_USER + 1))
    .zremrangebyrank(key, 0, -(STREAMS_PER_USER + 1))
    .exec();
  const over = results?.[2]?.[1];
  return Array.isArray(over) ? (over as string[]) : [];
}

/** Forgets a stream that closed. */
export async function unregisterStream(redis: RedisClient, prefix: string, userId: string, streamId: string): Promise<void> {
  await redis.zrem(streamsKey(prefix, userId), streamId);
}

const streamsKey = (prefix: string, userId: string) => `${prefix}:streams:${userId}`;

/**
 * Which of these users hold a live stream on any API instance right now (SPEC §4.1 `online`),
 * in one round trip. An instance that died without closing its streams leaves them counted
 * until they are trimmed or expire (see ENTRY_TTL_SECONDS): a crash errs on the side of "online".
 */
export async function usersWithOpenStreams(redis: RedisClient, prefix: string, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  // Sent together, not as one pipeline: on a cluster the users' keys sit in different slots,
  // which a pipeline refuses; the client still writes them in one go.
  const counts = await Promise.all(userIds.map((userId) => redis.zcard(streamsKey(prefix, userId))));
  return new Set(userIds.filter((_, i) => counts[i]! > 0));
}
