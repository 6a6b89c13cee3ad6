import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Config } from '../src/config.ts';
import { PermanentDeliveryError, RetryLaterError, rootCauseMessage } from '../src/errors.ts';
import { lazyChild, type Logger } from '../src/logger.ts';
import { queueCatalog, type PayloadOf, type QueueKey } from '../src/queues/catalog.ts';
import { startDeadline } from '../src/queues/jobDeadline.ts';
import type { QueueJob } from '../src/queues/queueJob.ts';
import { createRedis, slotPrefix, type RedisClient } from '../src/redis.ts';

export type WorkerSpec<K extends QueueKey> = {
  queue: K;
  config: Config;
  logger: Logger;
  handle: (job: QueueJob<K>) => Promise<unknown>;
  /** Called once when a job has failed for good (permanent error or tries used up): record it, never rethrow. */
  onFinalFailure?: (payload: PayloadOf<K>, error: Error) => Promise<void>;
  concurrency?: number;
  /** A job running longer than this is aborted; the catalog's timeout unless given. */
  timeoutMs?: number;
};

export type RunningWorker = { worker: Worker; close(): Promise<void> };

/**
 * A BullMQ worker for one catalog queue: validates the payload, aborts a job that overruns its
 * timeout, and turns Herald's errors into BullMQ's outcomes — PermanentDeliveryError fails at
 * once, RetryLaterError waits the time the far side asked for, anything else retries with backoff.
 */
export function runWorker<K extends QueueKey>(spec: WorkerSpec<K>): RunningWorker {
  const definition = queueCatalog[spec.queue];
  const connection = createRedis(spec.config, 'worker');
  const duplicates = guardDuplicates(connection);
  const log = spec.logger.child({ queue: definition.name });
  const timeoutMs = spec.timeoutMs ?? definition.timeoutMs;

  const worker = new Worker(
    definition.name,
    async (job: Job, token?: string) => {
      const parsed = definition.payload.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid payload: ${parsed.error.message}`);
      const payload = parsed.data as PayloadOf<K>;
      const deadline = startDeadline(timeoutMs);
      const jobLog = lazyChild(log, () => ({ jobId: job.id, attempt: job.attemptsMade + 1, ...eventContext(payload) }));
      try {
        const run = { startedAt: new Date(job.timestamp), maxAttempts: job.opts.attempts ?? 1 };
        const queueJob: QueueJob<K> = {
          payload,
          attempt: job.attemptsMade + 1,
          run,
          get signal() {
            return deadline.signal;
          },
          logger: jobLog,
        };
        const result = await deadline.race(spec.handle(queueJob));
        // Per job at debug only: the hot path logs nothing per event at info (outcomes are metrics).
        jobLog.debug({ outcome: 'completed' }, 'job completed');
        return result;
      } catch (err) {
        if (err instanceof PermanentDeliveryError) throw new UnrecoverableError(err.message);
        if (err instanceof RetryLaterError && token) {
          jobLog.warn({ outcome: 'delayed', retryAfterMs: err.retryAfterMs, err: err.message }, 'job delayed on request');
          await job.moveToDelayed(Date.now() + err.retryAfterMs, token);
          throw new DelayedError();
        }
        // What BullMQ keeps in Redis (failedReason, stack) must not carry a query's parameters,
        // which may be secrets (SPEC §7.1): only the redacted root cause goes on.
        if (err instanceof DelayedError || err instanceof UnrecoverableError) throw err;
        throw new Error(rootCauseMessage(err));
      } finally {
        deadline.clear();
      }
    },
    { connection, prefix: slotPrefix(spec.config), concurrency: spec.concurrency ?? definition.concurrency },
  );

  worker.on('failed', (job, error) => {
    if (!job) return;
    const final = error instanceof UnrecoverableError || error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    const context = { jobId: job.id, attempts: job.attemptsMade, ...eventContext(job.data) };
    if (!final) {
      log.warn({ ...context, outcome: 'retrying', err: rootCauseMessage(error) }, 'job failed; will retry');
      return;
    }
    log.error({ ...context, ...eventsCarried(job.data), outcome: 'failed', err: rootCauseMessage(error) }, 'job failed for good');
    spec.onFinalFailure?.(job.data as PayloadOf<K>, error).catch((recordErr: unknown) =>
      log.error({ ...context, err: recordErr }, 'could not record a failed job'),
    );
  });
  worker.on('error', (err) => log.warn({ err: err.message }, 'worker connection error'));

  return {
    worker,
    async close() {
      duplicates.closing();
      await worker.close();
      connection.disconnect();
    },
  };
}

/**
 * The connections BullMQ derives from ours (a worker's blocking connection is a duplicate),
 * kept from reconnecting once the worker closes. On a Redis Cluster, BullMQ 6.7's close
 * interrupts the blocking command by disconnecting it, and its cluster recovery then connects
 * it again behind the close, where it stays open for good.
 */
function guardDuplicates(connection: RedisClient): { closing(): void } {
  let closing = false;
  const duplicate = connection.duplicate.bind(connection) as (...args: unknown[]) => RedisClient;
  connection.duplicate = ((...args: unknown[]) => {
    const copy = duplicate(...args);
    const connect = copy.connect.bind(copy);
    copy.connect = () => (closing ? Promise.reject(new Error('the worker is closing')) : connect());
    return copy;
  }) as typeof connection.duplicate;
  return { closing: () => void (closing = true) };
}

/** Most events the line of a route job that failed for good names (a job holds up to 1,000). */
const EVENTS_NAMED = 20;

/**
 * The events a route job carried, as `tenant/id`, for the line that says it failed for good:
 * which events are stuck is what an operator asks next (they stay in `event_outbox`). Only
 * there — a child logger per job would serialize them for every job that succeeds.
 */
function eventsCarried(payload: unknown): Record<string, unknown> {
  const events = (payload as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) return {};
  const named = events.slice(0, EVENTS_NAMED).map((event: { tenantId?: unknown; id?: unknown } | null) => `${String(event?.tenantId)}/${String(event?.id)}`);
  return { events: named, eventCount: events.length };
}

function eventContext(payload: unknown): Record<string, unknown> {
  const p = payload as { eventId?: unknown; deliveryId?: unknown } | null;
  return {
    ...(typeof p?.eventId === 'string' && { eventId: p.eventId }),
    ...(typeof p?.deliveryId === 'string' && { deliveryId: p.deliveryId }),
  };
}
