import type { RedisClient } from '../redis.ts';

/** SPEC §8.1: acknowledged bus messages are kept this long (for inspection, and for a replay by hand). */
export const ACKNOWLEDGED_KEEP_MS = 3_600_000;

/** SPEC §8.1: the dead-letter stream keeps its newest this many. */
export const DEAD_LETTERS_KEPT = 10_000;

type StreamId = [ms: bigint, seq: bigint];

const parseId = (id: string): StreamId => {
  const [ms, seq] = id.split('-');
  return [BigInt(ms ?? 0), BigInt(seq ?? 0)];
};
const formatId = ([ms, seq]: StreamId) => `${ms}-${seq}`;
const before = (a: StreamId, b: StreamId) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * Trims a consumed stream of the entries older than `keepMs` that every consumer group has
 * acknowledged, and returns how many went. An entry is still needed while it is pending with
 * some consumer (it may be retried or claimed) or not yet read by some group; everything before
 * the oldest such entry, and older than `keepMs`, can go (XTRIM MINID). A stream no group reads
 * is left alone: nobody has said what is done with.
 */
export async function trimAcknowledged(redis: RedisClient, stream: string, keepMs: number, now = Date.now()): Promise<number> {
  const groups = (await redis.xinfo('GROUPS', stream)) as (string | number)[][];
  if (groups.length === 0) return 0;
  let keepFrom: StreamId = [BigInt(Math.max(0, now - keepMs)), 0n];
  for (const info of groups) {
    const fields = new Map<string, string | number>();
    for (let i = 0; i + 1 < info.length; i += 2) fields.set(String(info[i]), info[i + 1]!);
    const name = String(fields.get('name'));
    const [lastMs, lastSeq] = parseId(String(fields.get('last-delivered-id') ?? '0-0'));
    // Not yet read by this group: everything after its last delivered entry.
    let needed: StreamId = [lastMs, lastSeq + 1n];
    if (Number(fields.get('pending') ?? 0) > 0) {
      const [, oldestPending] = (await redis.xpending(stream, name)) as [number, string | null, string | null, unknown];
      if (oldestPending) needed = parseId(oldestPending);
    }
    if (before(needed, keepFrom)) keepFrom = needed;
  }
  return (await redis.xtrim(stream, 'MINID', formatId(keepFrom))) as number;
}
