import { sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import { chunksOf } from '../chunks.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { periodicTask } from '../periodicTask.ts';
import { deliveryJobId, INAPP_BATCH_SIZE, inappJobId, INLINE_INAPP_MAX, queueForChannel, routeJobId, ROUTE_JOB_MAX_EVENTS, type Queues } from '../queues/catalog.ts';
import type { Channel } from '../routing/channels.ts';
import { eventKey, type EventRef } from './eventEnvelope.ts';

export type OutboxSweeperOptions = {
  db: Db;
  queues: Queues;
  logger: Logger;
  /** An event unrouted (or a delivery pending without its job) for longer than this is enqueued again. */
  afterSeconds: number;
  intervalMs?: number;
  batchSize?: number;
};

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Every accepted event is in Postgres before the publisher hears 202, and every planned send is
 * a pending (or scheduled) delivery row before its job is enqueued; the jobs are only wake-up
 * calls. This sweeper finds what Redis lost — events stored but never routed (Redis down or
 * flushed at accept time, a route job that gave up), pending deliveries whose job is gone
 * (Redis flushed or restarted empty after routing) and scheduled ones past their time without
 * a job — and routes those events again. Routing is
 * idempotent, so the re-run only re-adds the missing jobs. An in-app batch that failed for good
 * (its tries spent while Postgres was away) is run again: an inbox must not stay short.
 */
export function createOutboxSweeper(options: OutboxSweeperOptions) {
  const { db, queues, logger } = options;
  const routeQueue = queues.route;
  const batchSize = options.batchSize ?? 1_000;
  /** Keyset position in the pending deliveries, so a backlog larger than a batch is checked a batch per sweep. */
  let pendingCursor: { updatedAt: string; id: string } | null = null;
  /**
   * Keyset position in the stale outbox, likewise: events that stay unrouted — a batch of events
   * whose routing throws, whose job is retrying or failed for good, and which a sweep re-adds
   * each time — would otherwise fill every sweep's batch from the oldest end, and any newer
   * event whose route job Redis lost would never be reached.
   */
  let outboxCursor: { acceptedAt: string; tenantId: string; id: string } | null = null;

  /** Re-adds one route job for these events unless the same one is still queued or running; true when it did. */
  async function requeue(events: EventRef[]): Promise<boolean> {
    if (events.length === 0) return false;
    const jobId = routeJobId(events);
    const job = await routeQueue.getJob(jobId);
    const state = job ? await job.getState() : 'missing';
    if (LIVE_STATES.has(state)) return false;
    // A finished job with this id would make the add a no-op, so clear it first.
    if (job) await job.remove().catch(() => {});
    await routeQueue.add('route', { events }, { jobId });
    return true;
  }

  /**
   * Whether the router is behind by more than the sweep threshold: then the stale events may
   * well sit in its queue, and adding them again would only make it route them twice. After a
   * Redis flush the old jobs are gone, so this says no and the sweep goes ahead.
   */
  async function routerBacklogOlderThanThreshold(): Promise<boolean> {
    const oldest = await routeQueue.getJobs(['waiting', 'prioritized'], 0, 0, true);
    const cutoff = Date.now() - options.afterSeconds * 1_000;
    return oldest.some((job) => job.timestamp < cutoff);
  }

  async function sweepUnrouted(): Promise<number> {
    if (await routerBacklogOlderThanThreshold()) return 0;
    const after = outboxCursor;
    const limit = Math.min(batchSize, ROUTE_JOB_MAX_EVENTS);
    const stale = await db.execute<{ tenant_id: string; id: string; accepted_at: string }>(sql`
      select tenant_id, id, accepted_at::text as accepted_at from event_outbox
      where accepted_at < now() - make_interval(secs => ${options.afterSeconds})
        ${after ? sql`and (accepted_at, tenant_id, id) > (${after.acceptedAt}::timestamptz, ${after.tenantId}, ${after.id})` : sql``}
      order by accepted_at, tenant_id, id
      limit ${limit}
    `);
    outboxCursor = nextCursor(stale, limit, (last) => ({ acceptedAt: last.accepted_at, tenantId: last.tenant_id, id: last.id }));
    const events = stale.map((row) => ({ tenantId: row.tenant_id, id: row.id }));
    return (await requeue(events)) ? events.length : 0;
  }

  /** Routed events with a pending delivery whose job no longer exists in Redis. */
  async function sweepLostDeliveries(): Promise<number> {
    const after = pendingCursor;
    const pending = await db.execute<{ id: string; tenant_id: string; event_id: string; channel: Channel; updated_at: string; inapp_rows: number }>(sql`
      with stale as (
        select id, tenant_id, event_id, channel, updated_at from deliveries
        where state = 'pending'
          and updated_at < now() - make_interval(secs => ${options.afterSeconds})
          ${after ? sql`and (updated_at, id) > (${after.updatedAt}::timestamptz, ${after.id}::uuid)` : sql``}
        order by updated_at, id
        limit ${batchSize}
      ),
      inapp as (
        select tenant_id, event_id, count(*)::int as n from deliveries
        where channel = 'inapp' and state <> 'skipped' and (tenant_id, event_id) in (select tenant_id, event_id from stale where channel = 'inapp')
        group by tenant_id, event_id
      )
      select s.id, s.tenant_id, s.event_id, s.channel, s.updated_at::text as updated_at, coalesce(inapp.n, 0) as inapp_rows
      from stale s left join inapp on inapp.tenant_id = s.tenant_id and inapp.event_id = s.event_id and s.channel = 'inapp'
      order by s.updated_at, s.id
    `);
    pendingCursor = nextCursor(pending, batchSize, (last) => ({ updatedAt: last.updated_at, id: last.id }));
    // Scheduled sends (SPEC §4.1) past their time: their wake-up job may be gone too. A digest's
    // members have no job of their own; their carrier's stands for them.
    const overdue = await db.execute<{ id: string; tenant_id: string; event_id: string; channel: Channel }>(sql`
      select id, tenant_id, event_id, channel from deliveries
      where state = 'scheduled' and carried_by is null and not_before < now() - make_interval(secs => ${options.afterSeconds})
      order by not_before, id
      limit ${batchSize}
    `);

    // Every job these rows should have, looked up at once (one pipelined burst, not a round trip each).
    const lost = new Map<string, EventRef>();
    const expected: { event: EventRef; queue: Queue; jobId: string }[] = [];
    const inappListed = new Set<string>();
    for (const row of [...pending, ...overdue.map((row) => ({ ...row, inapp_rows: 0 }))]) {
      const event = { tenantId: row.tenant_id, id: row.event_id };
      if (row.channel !== 'inapp') {
        expected.push({ event, queue: queues[queueForChannel(row.channel)], jobId: deliveryJobId(row.id) });
      } else if (row.inapp_rows <= INLINE_INAPP_MAX) {
        // The router writes a small fan-out's inbox rows with no delivery row beside them (a router that dies before its
        // frames leaves the event unrouted, swept above); one still pending was left by an older router that marked them after announcing.
        lost.set(eventKey(event), event);
      } else if (!inappListed.has(eventKey(event))) {
        // In-app jobs go by batches of users; any batch missing means some of these rows have no job.
        inappListed.add(eventKey(event));
        for (let batch = 0; batch * INAPP_BATCH_SIZE < row.inapp_rows; batch++) {
          expected.push({ event, queue: queues.inapp, jobId: inappJobId(event, batch) });
        }
      }
    }
    const jobs = await Promise.all(expected.map(({ queue, jobId }) => queue.getJob(jobId)));

    let retried = 0;
    for (const [i, job] of jobs.entries()) {
      const { event, queue } = expected[i]!;
      if (!job) lost.set(eventKey(event), event);
      // An in-app batch that used up its tries (Postgres away for minutes) runs again: inbox writes are idempotent.
      else if (queue === queues.inapp && !lost.has(eventKey(event)) && (await job.isFailed())) {
        await job.retry('failed');
        retried++;
      }
    }
    const lostEvents = [...lost.values()];
    let requeued = 0;
    for (const group of chunksOf(lostEvents, ROUTE_JOB_MAX_EVENTS)) {
      if (await requeue(group)) requeued += group.length;
    }
    return requeued + retried;
  }

  async function sweep(): Promise<number> {
    const unrouted = await sweepUnrouted();
    const lostJobs = await sweepLostDeliveries();
    if (unrouted > 0) logger.warn({ requeued: unrouted }, 'outbox sweeper re-enqueued unrouted events');
    if (lostJobs > 0) logger.warn({ requeued: lostJobs }, 'outbox sweeper re-routed events whose delivery jobs Redis lost, or ran failed in-app batches again');
    return unrouted + lostJobs;
  }

  const task = periodicTask(sweep, { intervalMs: options.intervalMs ?? 5_000, onError: (err) => logger.warn({ err }, 'outbox sweep failed') });
  return { sweep, start: task.start, stop: task.stop };
}

/** Where a keyset-paged sweep goes on next time: after the last row of a full page, or from the start again. */
function nextCursor<Row, Cursor>(rows: readonly Row[], limit: number, cursorOf: (last: Row) => Cursor): Cursor | null {
  const last = rows[rows.length - 1];
  return rows.length === limit && last !== undefined ? cursorOf(last) : null;
}
