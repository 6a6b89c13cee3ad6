import { and, isNull, lt, sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import type { Db } from '../db/client.ts';
import { events } from '../db/schema.ts';
import type { Logger } from '../logger.ts';
import { jobIdFor, type PayloadOf } from '../queues/catalog.ts';

export type OutboxSweeperOptions = {
  db: Db;
  routeQueue: Queue<PayloadOf<'route'>>;
  logger: Logger;
  /** An event unrouted for longer than this is enqueued again. */
  afterSeconds: number;
  intervalMs?: number;
  batchSize?: number;
};

/**
 * Every accepted event is in Postgres before the publisher hears 202; the route job is only a
 * wake-up call. This sweeper finds events that were stored but never routed — Redis was down or
 * flushed at accept time, or the job failed for good — and enqueues them again.
 */
export function createOutboxSweeper(options: OutboxSweeperOptions) {
  const { db, routeQueue, logger } = options;
  const batchSize = options.batchSize ?? 1_000;

  async function sweep(): Promise<number> {
    const stale = await db
      .select({ id: events.id })
      .from(events)
      .where(and(isNull(events.routedAt), lt(events.acceptedAt, sql`now() - make_interval(secs => ${options.afterSeconds})`)))
      .orderBy(events.acceptedAt)
      .limit(batchSize);
    let requeued = 0;
    for (const { id } of stale) {
      const jobId = jobIdFor('route', id);
      const job = await routeQueue.getJob(jobId);
      const state = job ? await job.getState() : 'missing';
      if (state === 'waiting' || state === 'active' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') continue;
      // A finished job with this id would make the add a no-op, so clear it first.
      if (job) await job.remove().catch(() => {});
      await routeQueue.add('route', { eventId: id }, { jobId });
      requeued++;
    }
    if (requeued > 0) logger.warn({ requeued }, 'outbox sweeper re-enqueued unrouted events');
    return requeued;
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  return {
    sweep,
    start(): void {
      timer = setInterval(() => {
        if (running) return;
        running = sweep()
          .catch((err: unknown) => logger.warn({ err }, 'outbox sweep failed'))
          .finally(() => (running = null));
      }, options.intervalMs ?? 5_000);
      timer.unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
