import { sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import { chunksOf } from '../chunks.ts';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { periodicTask } from '../periodicTask.ts';
import type { InappRecipients } from '../db/schema.ts';
import { inappBatchJob } from '../inbox/inappBatches.ts';
import { deliveryGroupJobId, deliveryJobId, inappJobId, queueForChannel, routeJobId, ROUTE_JOB_MAX_EVENTS, type Queues } from '../queues/catalog.ts';
import type { Priority } from '../routing/priority.ts';
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
 * a pending (or scheduled) delivery row, or a large fan-out's in-app batch, before its job is
 * enqueued (a webhook's first one its group's, src/deliveries/deliveryGroups.ts); the jobs are
 * only wake-up calls. This sweeper finds what Redis lost — events stored
 * but never routed (Redis down or flushed at accept time, a route job that gave up), pending
 * deliveries whose job is gone (Redis flushed or restarted empty after routing) and scheduled
 * ones past their time without a job — and routes those events again. Routing is idempotent,
 * so the re-run only re-adds the missing jobs. An in-app batch not written whose job is gone is
 * enqueued again from its row, and one that failed for good (its tries spent while Postgres was
 * away) is run again: an inbox must not stay short.
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
  /** Keyset position in the unwritten in-app batches, likewise. */
  let batchCursor: { createdAt: string; id: string } | null = null;

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
    const pending = await db.execute<{ id: string; tenant_id: string; event_id: string; channel: Channel; job_group: string | null; updated_at: string }>(sql`
      select id, tenant_id, event_id, channel, job_group, updated_at::text as updated_at from deliveries
      where state = 'pending'
        and updated_at < now() - make_interval(secs => ${options.afterSeconds})
        ${after ? sql`and (updated_at, id) > (${after.updatedAt}::timestamptz, ${after.id}::uuid)` : sql``}
      order by updated_at, id
      limit ${batchSize}
    `);
    pendingCursor = nextCursor(pending, batchSize, (last) => ({ updatedAt: last.updated_at, id: last.id }));
    // Scheduled sends (SPEC §4.1) past their time: their wake-up job may be gone too. A digest's
    // members have no job of their own; their carrier's stands for them.
    const overdue = await db.execute<{ id: string; tenant_id: string; event_id: string; channel: Channel; job_group: null }>(sql`
      select id, tenant_id, event_id, channel, null as job_group from deliveries
      where state = 'scheduled' and carried_by is null and not_before < now() - make_interval(secs => ${options.afterSeconds})
      order by not_before, id
      limit ${batchSize}
    `);

    const lost = new Map<string, EventRef>();
    for (const event of await unfinishedOlderInappDeliveries(pending.filter((row) => row.channel === 'inapp').map((row) => row.id))) {
      lost.set(eventKey(event), event);
    }
    // Every job the other rows should have — a group member's is its group's, one job for all of
    // them —, looked up at once (one pipelined burst, not a round trip each).
    const expected = new Map<string, { jobId: string; queue: Queue; group: boolean; events: EventRef[] }>();
    for (const row of [...pending, ...overdue]) {
      if (row.channel === 'inapp') continue;
      const entry =
        row.job_group === null
          ? { jobId: deliveryJobId(row.id), queue: queues[queueForChannel(row.channel)] as Queue, group: false }
          : { jobId: deliveryGroupJobId(row.job_group), queue: queues.webhookGroup as Queue, group: true };
      const events = expected.get(entry.jobId)?.events ?? [];
      events.push({ tenantId: row.tenant_id, id: row.event_id });
      expected.set(entry.jobId, { ...entry, events });
    }
    const entries = [...expected.values()];
    const jobs = await Promise.all(entries.map(({ queue, jobId }) => queue.getJob(jobId)));
    // A group's job that finished while a member is still its group's (a member whose send ended
    // neither sent nor handed off, or a group that gave up before marking its members failed) is
    // removed, so that routing again can add it anew.
    const groupStates = await Promise.all(jobs.map((job, i) => (job && entries[i]!.group ? job.getState() : null)));
    await Promise.all(
      entries.map(async ({ events }, i) => {
        const job = jobs[i];
        const state = groupStates[i] ?? null;
        if (job && (state === null || LIVE_STATES.has(state))) return;
        if (job) await job.remove().catch(() => {});
        for (const event of events) lost.set(eventKey(event), event);
      }),
    );
    const lostEvents = [...lost.values()];
    let requeued = 0;
    for (const group of chunksOf(lostEvents, ROUTE_JOB_MAX_EVENTS)) {
      if (await requeue(group)) requeued += group.length;
    }
    return requeued;
  }

  /**
   * Pending in-app deliveries are left by routers from before in-app batches were recorded
   * (drizzle/0015), whose jobs mark them sent. One whose inbox row exists was written: it is
   * marked sent here. The events of the rest are routed again, which writes their rows.
   */
  async function unfinishedOlderInappDeliveries(ids: string[]): Promise<EventRef[]> {
    if (ids.length === 0) return [];
    const unwritten = await db.execute<{ tenant_id: string; event_id: string }>(sql`
      with written as (
        update deliveries d set state = 'sent', sent_at = now(), updated_at = now(), attempts = d.attempts + 1
        where d.id = any(${sql.param(ids)}::uuid[]) and d.state = 'pending'
          and exists (select 1 from notifications n where n.tenant_id = d.tenant_id and n.event_id = d.event_id and n.user_id = d.destination)
        returning d.id
      )
      select distinct tenant_id, event_id from deliveries
      where id = any(${sql.param(ids)}::uuid[]) and state = 'pending' and id not in (select id from written)`);
    return unwritten.map((row) => ({ tenantId: row.tenant_id, id: row.event_id }));
  }

  /**
   * In-app batches not written whose job is gone (Redis flushed after routing) or finished without
   * writing them (an in-app worker from before batches were recorded ran it): enqueued again,
   * from the row, which carries what the job did. One whose job failed for good runs again.
   */
  async function sweepUnwrittenBatches(): Promise<number> {
    const after = batchCursor;
    const stale = await db.execute<{ id: string; tenant_id: string; event_id: string; batch: number; created_at: string }>(sql`
      select id::text, tenant_id, event_id, batch, created_at::text from inapp_batches
      where written_at is null and created_at < now() - make_interval(secs => ${options.afterSeconds})
        ${after ? sql`and (created_at, id) > (${after.createdAt}::timestamptz, ${after.id}::bigint)` : sql``}
      order by created_at, id
      limit ${batchSize}
    `);
    batchCursor = nextCursor(stale, batchSize, (last) => ({ createdAt: last.created_at, id: last.id }));
    const jobs = await Promise.all(stale.map((row) => queues.inapp.getJob(inappJobId({ tenantId: row.tenant_id, id: row.event_id }, row.batch))));
    const states = await Promise.all(jobs.map((job) => (job ? job.getState() : 'missing')));
    let retried = 0;
    const toAdd: string[] = [];
    for (const [i, job] of jobs.entries()) {
      const state = states[i]!;
      if (LIVE_STATES.has(state)) continue;
      if (job && state === 'failed') {
        await job.retry('failed');
        retried++;
        continue;
      }
      // A finished job with this id would make the add a no-op, so clear it first.
      if (job) await job.remove().catch(() => {});
      toAdd.push(stale[i]!.id);
    }
    if (toAdd.length > 0) {
      // The recipients are read only for the batches re-added: a thousand people each.
      const rows = await db.execute<{ tenant_id: string; event_id: string; batch: number; priority: Priority; recipients: InappRecipients }>(sql`
        select tenant_id, event_id, batch, priority, recipients from inapp_batches where id = any(${sql.param(toAdd)}::bigint[])`);
      await queues.inapp.addBulk(rows.map((row) => inappBatchJob({ tenantId: row.tenant_id, eventId: row.event_id, batch: row.batch, priority: row.priority, recipients: row.recipients })));
    }
    return retried + toAdd.length;
  }

  async function sweep(): Promise<number> {
    const unrouted = await sweepUnrouted();
    const lostJobs = (await sweepLostDeliveries()) + (await sweepUnwrittenBatches());
    if (unrouted > 0) logger.warn({ requeued: unrouted }, 'outbox sweeper re-enqueued unrouted events');
    if (lostJobs > 0) logger.warn({ requeued: lostJobs }, 'outbox sweeper re-routed events whose delivery jobs Redis lost, or enqueued or ran again in-app batches not written');
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
