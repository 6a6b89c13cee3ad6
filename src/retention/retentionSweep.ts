import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { periodicTask } from '../periodicTask.ts';

export type RetentionSweepOptions = {
  db: Db;
  logger: Logger;
  /** RETENTION_DAYS: history older than this is deleted. */
  retentionDays: number;
  /** Rows one statement deletes: small, so each statement holds its row locks for milliseconds. */
  batchSize?: number;
  /** How often a sweep starts; a sweep runs batches until the old rows are gone. */
  intervalMs?: number;
  /** Rest between batches, so a large first sweep leaves room for the work the database is there for. */
  pauseMs?: number;
};

/** What the sweep deletes, in the order it does: finished deliveries before events, so their events can go in the same sweep. */
const HISTORY = ['notifications', 'deliveries', 'attempts', 'digests', 'inappBatches', 'events'] as const;
type HistoryKind = (typeof HISTORY)[number];

export type RetentionCounts = Record<HistoryKind, number>;

/** Runs a delete and answers how many rows went. */
const counted = (remove: SQL) => sql`with gone as (${remove} returning 1) select count(*)::int as deleted from gone`;

/**
 * One batch per kind of history. Each picks at most `limit` old rows by an index on their age,
 * skipping rows another transaction holds (an inbox action, another router's sweep), and deletes
 * just those: row locks only, never a scan of a whole table under a lock.
 */
const batches: Record<HistoryKind, (cutoff: string, limit: number) => SQL> = {
  // Only read or archived notifications go: an unread one stays however old, and neither kind is
  // counted in inbox_counts (read rows are seen, archived rows are out of the counts), so the
  // unread and unseen counts stay as they are.
  notifications: (cutoff, limit) =>
    counted(sql`delete from notifications where id in (
      select id from notifications
      where (read_at is not null or archived_at is not null) and created_at < ${cutoff}::timestamptz
      limit ${limit} for update skip locked)`),
  // A delivery still waiting to be sent (pending, scheduled) is work, not history; its attempts go with it.
  deliveries: (cutoff, limit) => sql`
    with gone as (
      delete from deliveries where id in (
        select id from deliveries
        where created_at < ${cutoff}::timestamptz and state not in ('pending', 'scheduled')
        limit ${limit} for update skip locked)
      returning id),
    attempts as (delete from delivery_attempts where delivery_id in (select id from gone) returning 1)
    select (select count(*) from gone)::int as deleted, (select count(*) from attempts)::int as attempts`,
  // Old attempts whose delivery is gone some other way; most go with their delivery above, and
  // those of a delivery still waiting stay with it.
  attempts: (cutoff, limit) =>
    counted(sql`delete from delivery_attempts where id in (
      select a.id from delivery_attempts a
      where a.started_at < ${cutoff}::timestamptz and not exists (select 1 from deliveries d where d.id = a.delivery_id)
      limit ${limit} for update of a skip locked)`),
  digests: (cutoff, limit) =>
    counted(sql`delete from digests where id in (
      select id from digests where state = 'closed' and closes_at < ${cutoff}::timestamptz
      limit ${limit} for update skip locked)`),
  // A large fan-out's in-app batch, once its rows are written, is history; one still to write is work.
  inappBatches: (cutoff, limit) =>
    counted(sql`delete from inapp_batches where id in (
      select id from inapp_batches where written_at is not null and created_at < ${cutoff}::timestamptz
      limit ${limit} for update skip locked)`),
  // An event the router has not finished is still in the outbox, and one with a delivery or an
  // in-app batch left (still to be sent: the finished ones went above) is what that send
  // renders: both stay.
  events: (cutoff, limit) =>
    counted(sql`delete from events where (tenant_id, id) in (
      select e.tenant_id, e.id from events e
      where e.accepted_at < ${cutoff}::timestamptz
        and not exists (select 1 from event_outbox o where o.tenant_id = e.tenant_id and o.id = e.id)
        and not exists (select 1 from deliveries d where d.tenant_id = e.tenant_id and d.event_id = e.id)
        and not exists (select 1 from inapp_batches b where b.tenant_id = e.tenant_id and b.event_id = e.id)
      limit ${limit} for update of e skip locked)`),
};

/**
 * SPEC §8.1: deletes events, their deliveries and attempts (and in-app batches), and read or archived notifications
 * older than RETENTION_DAYS, in small batches. Runs in the router process (one per router; the
 * sweeps of several routers skip each other's rows).
 */
export function createRetentionSweep(options: RetentionSweepOptions) {
  const { db, logger } = options;
  const batchSize = options.batchSize ?? 1_000;
  const pauseMs = options.pauseMs ?? 50;
  let stopping = false;

  /** Deletes everything older than the retention period, a batch at a time; returns what went. */
  async function sweep(now = new Date()): Promise<RetentionCounts> {
    const cutoff = new Date(now.getTime() - options.retentionDays * 86_400_000).toISOString();
    const counts: RetentionCounts = { notifications: 0, deliveries: 0, attempts: 0, digests: 0, inappBatches: 0, events: 0 };
    for (const kind of HISTORY) {
      for (;;) {
        if (stopping) return counts;
        const [row] = await db.execute<{ deleted: number; attempts?: number }>(batches[kind](cutoff, batchSize));
        const deleted = row?.deleted ?? 0;
        counts[kind] += deleted;
        // The deliveries batch takes their attempts along and says how many.
        if (row?.attempts) counts.attempts += row.attempts;
        if (deleted < batchSize) break;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
    if (Object.values(counts).some((n) => n > 0)) logger.info({ retention: counts, cutoff }, 'retention sweep deleted old history');
    return counts;
  }

  const task = periodicTask(sweep, {
    intervalMs: options.intervalMs ?? 3_600_000,
    runAtStart: true,
    onError: (err) => logger.warn({ err }, 'retention sweep failed'),
  });
  return {
    sweep,
    start: task.start,
    async stop(): Promise<void> {
      // A first sweep of a large backlog runs many batches: it ends at the next one.
      stopping = true;
      await task.stop();
    },
  };
}
