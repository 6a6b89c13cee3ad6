import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { keyIdOf } from '../auth/serviceKeys.ts';
import type { Logger } from '../logger.ts';
import { createRedis, type RedisClient, type RedisTarget } from '../redis.ts';
import { createBackoff, pause, type BusMessage, type BusMessageHandler, type BusOutcome } from './busMessage.ts';
import { ACKNOWLEDGED_KEEP_MS, DEAD_LETTERS_KEPT, trimAcknowledged } from './streamTrim.ts';

export type RedisStreamListenerOptions = {
  redis: RedisTarget;
  /** The listener reads `<prefix>:events` and dead-letters to `<prefix>:events:dead` (see slotPrefix). */
  prefix: string;
  handle: BusMessageHandler;
  logger: Logger;
  /** A pending message idle this long with a consumer is taken over (that consumer is presumed dead). */
  claimIdleMs: number;
  group?: string;
  /** Unique per listener, so the group can tell whose pending messages are whose. */
  consumer?: string;
  /** Messages read at once; also the most this listener holds unacknowledged in memory. */
  batchSize?: number;
  blockMs?: number;
  /** Acknowledged messages older than this are trimmed from the stream (SPEC §8.1: an hour). */
  acknowledgedKeepMs?: number;
  /** The dead-letter stream keeps its newest this many (SPEC §8.1: 10,000). */
  deadLettersKept?: number;
};

export type RedisStreamListener = { stream: string; deadStream: string; group: string; consumer: string; close(): Promise<void> };

/** A stream entry as Redis returns it: id and a flat field/value list (null once the entry was deleted). */
type Entry = [id: string, fields: string[] | null];

/** Consumers gone this long with nothing pending are dropped from the group, so restarts do not pile them up. */
const FORGET_CONSUMER_AFTER_MS = 3_600_000;

/**
 * SPEC §8's Redis Stream listener: one consumer of a consumer group, reading in bounded batches.
 * A message is acknowledged only once its event is committed, or in the same MULTI that moves it
 * to the dead-letter stream. Anything else stays pending and is taken again by XAUTOCLAIM once
 * idle for `claimIdleMs` — by this listener after an outage, or by another if this process dies.
 */
export async function startRedisStreamListener(options: RedisStreamListenerOptions): Promise<RedisStreamListener> {
  const stream = `${options.prefix}:events`;
  const deadStream = `${stream}:dead`;
  const group = options.group ?? 'herald-bus';
  const consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const batchSize = options.batchSize ?? 100;
  const acknowledgedKeepMs = options.acknowledgedKeepMs ?? ACKNOWLEDGED_KEEP_MS;
  const deadLettersKept = options.deadLettersKept ?? DEAD_LETTERS_KEPT;
  const claimEveryMs = Math.max(50, Math.min(options.claimIdleMs / 2, 30_000));
  const blockMs = options.blockMs ?? Math.min(2_000, claimEveryMs);
  const log = options.logger.child({ bus: 'redis', stream, consumer });

  // The blocking read gets its own connection: acks and dead letters must not queue behind it.
  const reader = createRedis(options.redis, 'worker');
  const redis = createRedis(options.redis, 'worker');
  try {
    await ensureGroup(redis, stream, group);
  } catch (err) {
    reader.disconnect();
    redis.disconnect();
    throw err;
  }

  const stopping = new AbortController();
  const backoff = createBackoff();
  let claimCursor = '0-0';
  let nextClaimAt = 0;

  async function readNew(): Promise<Entry[]> {
    const reply = (await reader.xreadgroup('GROUP', group, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', stream, '>')) as
      | [string, Entry[]][]
      | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** One page of XAUTOCLAIM; a full pass over the pending list happens every `claimEveryMs`. */
  async function claimStale(): Promise<Entry[]> {
    const [next, entries] = (await redis.xautoclaim(stream, group, consumer, options.claimIdleMs, claimCursor, 'COUNT', batchSize)) as [
      string,
      Entry[],
    ];
    claimCursor = next;
    if (next === '0-0') {
      nextClaimAt = Date.now() + claimEveryMs;
      await forgetIdleConsumers();
      // Once a pass over the pending list is done, so what was claimed is settled first. Every
      // listener trims; the trims agree, as they read the same group.
      const trimmed = await trimAcknowledged(redis, stream, acknowledgedKeepMs);
      if (trimmed > 0) log.debug({ trimmed }, 'trimmed acknowledged messages from the stream');
    }
    if (entries.length > 0) log.info({ claimed: entries.length }, 'took over messages left pending too long');
    return entries;
  }

  async function forgetIdleConsumers(): Promise<void> {
    const consumers = (await redis.xinfo('CONSUMERS', stream, group)) as (string | number)[][];
    for (const info of consumers) {
      const { name, pending, idle } = pairsToObject(info);
      if (name !== consumer && pending === 0 && typeof idle === 'number' && idle > FORGET_CONSUMER_AFTER_MS) {
        await redis.xgroup('DELCONSUMER', stream, group, String(name));
      }
    }
  }

  async function deadLetter(id: string, fields: string[], reason: string): Promise<void> {
    // One MULTI: a message is never both acknowledged and missing from the dead-letter stream.
    const results = await redis
      .multi()
      .xadd(deadStream, 'MAXLEN', deadLettersKept, '*', ...deadLetterFields(fields), 'reason', reason, 'sourceId', id).xack(stream, group, id).exec();
    const failure = results?.find(([err]) => err)?.[0];
    if (!results || failure) throw failure ?? new Error('dead-letter transaction aborted');
  }

  /** Settles a batch; returns how many must be tried again. */
  async function handleEntries(entries: Entry[]): Promise<number> {
    const outcomes = await Promise.all(
      entries.map(([id, fields]): Promise<BusOutcome> => {
        // Deleted from the stream while pending: nothing left to deliver.
        if (!fields) return Promise.resolve('acked');
        return options.handle(toBusMessage(fields), id, (reason) => deadLetter(id, fields, reason));
      }),
    );
    const acked = entries.filter((_, i) => outcomes[i] === 'acked').map(([id]) => id);
    if (acked.length > 0) await redis.xack(stream, group, ...acked);
    return outcomes.filter((o) => o === 'retry').length;
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        const entries = Date.now() >= nextClaimAt ? await claimStale() : await readNew();
        if (entries.length === 0) continue;
        // Failed messages stay pending and come back through XAUTOCLAIM once idle, rather than
        // being retried here: one message the database keeps refusing must not hold up the stream.
        const failed = await handleEntries(entries);
        if (failed > 0) await pause(backoff.next(), stopping.signal);
        else backoff.reset();
      } catch (err) {
        if (stopping.signal.aborted) break;
        if (String(err).includes('NOGROUP')) {
          // The stream or group was deleted under us: start over from whatever is there now.
          await ensureGroup(redis, stream, group).catch(() => {});
          claimCursor = '0-0';
        }
        log.warn({ err }, 'bus read failed; retrying');
        await pause(backoff.next(), stopping.signal);
      }
    }
  }

  const running = run();
  log.info({ group }, 'listening to the Redis event stream');

  return {
    stream,
    deadStream,
    group,
    consumer,
    async close() {
      stopping.abort();
      // A blocking read returns within blockMs and what it brought is handled, so nothing is left
      // pending with a consumer that is gone. Only a read stuck on a dead Redis is cut short (what
      // it had taken stays pending and another listener claims it).
      const waited = new AbortController();
      await Promise.race([running, pause(blockMs + 1_000, waited.signal)]);
      waited.abort();
      reader.disconnect();
      await running;
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Creates the group from the stream's start (id 0), so messages added before any listener ran are read too. */
async function ensureGroup(redis: RedisClient, stream: string, group: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!String(err).includes('BUSYGROUP')) throw err;
  }
}

/**
 * The message as the dead-letter stream keeps it: every field but the service key, which would
 * sit there for anyone who can read the stream. Its `keyId` still says which publisher sent it.
 */
function deadLetterFields(fields: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === KEY_FIELD) kept.push('keyId', keyIdOf(fields[i + 1]!));
    else kept.push(fields[i]!, fields[i + 1]!);
  }
  return kept;
}

const KEY_FIELD = 'key';

function toBusMessage(fields: string[]): BusMessage {
  const values = pairsToObject(fields);
  const field = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  return { event: field('event'), key: field(KEY_FIELD) };
}

/** Redis flat reply `[k1, v1, k2, v2…]` → object; the first occurrence of a name wins. */
function pairsToObject<V>(flat: V[]): Record<string, V> {
  const out: Record<string, V> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = String(flat[i]);
    if (!(name in out)) out[name] = flat[i + 1] as V;
  }
  return out;
}
