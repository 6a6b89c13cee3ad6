import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';

type QueueDefinition<P extends z.ZodType> = {
  name: string;
  payload: P;
  /** Tries before a job is failed for good. */
  attempts: number;
  /** First retry delay; each further try doubles it (with up to 50% jitter). */
  backoffMs: number;
  /** A job running longer than this is aborted and counts as a failed try. */
  timeoutMs: number;
  /** Jobs one worker process runs at once. */
  concurrency: number;
};

function defineQueue<P extends z.ZodType>(definition: QueueDefinition<P>): QueueDefinition<P> {
  return definition;
}

/** One stored delivery row to send; the worker loads everything else from it, so a retry sees current data. */
const deliveryJobPayload = z.object({ deliveryId: z.uuid(), eventId: z.string().min(1) });

/** Every queue Herald has: producers and workers both read it, so they cannot disagree. */
export const queueCatalog = {
  route: defineQueue({
    name: 'route',
    payload: z.object({ eventId: z.string() }),
    attempts: 10,
    backoffMs: 1_000,
    timeoutMs: 60_000,
    // The router routes the events its concurrent jobs hold as one group (workers/roles/router.ts):
    // more jobs in flight make bigger groups, and a group costs the round trips of one event.
    concurrency: 64,
  }),
  inapp: defineQueue({
    name: 'inapp',
    payload: z.object({ eventId: z.string(), userIds: z.array(z.string()).min(1) }),
    attempts: 10,
    backoffMs: 500,
    timeoutMs: 60_000,
    // Batches in flight are written as one group (workers/roles/inapp.ts), as routing is.
    concurrency: 32,
  }),
  email: defineQueue({
    name: 'email',
    payload: deliveryJobPayload,
    // SMTP relays greylist and rate-limit; seven retries doubling from 15 s span about half an hour.
    attempts: 8,
    backoffMs: 15_000,
    timeoutMs: 30_000,
    concurrency: 10,
  }),
  webhook: defineQueue({
    name: 'webhook',
    payload: deliveryJobPayload,
    // Receivers go down for deploys; nine retries doubling from 5 s span about forty minutes.
    attempts: 10,
    backoffMs: 5_000,
    timeoutMs: 20_000,
    concurrency: 25,
  }),
  /** Slack and Teams posts share one queue: same shape of work, same limits. */
  chat: defineQueue({
    name: 'chat',
    payload: deliveryJobPayload,
    attempts: 8,
    backoffMs: 2_000,
    timeoutMs: 20_000,
    concurrency: 10,
  }),
  push: defineQueue({
    name: 'push',
    payload: deliveryJobPayload,
    attempts: 6,
    backoffMs: 2_000,
    timeoutMs: 20_000,
    concurrency: 25,
  }),
};

export type QueueCatalog = typeof queueCatalog;
export type QueueKey = keyof QueueCatalog;
export type PayloadOf<K extends QueueKey> = z.output<QueueCatalog[K]['payload']>;

/** Finished jobs are kept for a while so a duplicate add with the same job id stays a no-op. */
const keepFinished = { removeOnComplete: { age: 3_600, count: 20_000 }, removeOnFail: { age: 7 * 86_400 } };

export function defaultJobOptions(key: QueueKey): JobsOptions {
  const def = queueCatalog[key];
  return { attempts: def.attempts, backoff: { type: 'exponential', delay: def.backoffMs, jitter: 0.5 }, ...keepFinished };
}

/**
 * Deterministic job ids: the same logical work always gets the same id, so enqueuing it twice
 * (a re-run of routing, the outbox sweeper) adds nothing. BullMQ forbids ':' in custom ids.
 */
export function jobIdFor(...parts: string[]): string {
  return Buffer.from(parts.join('\u0000')).toString('base64url');
}

export type Queues = { [K in QueueKey]: Queue<PayloadOf<K>> };

export function createQueues(connection: Redis, prefix: string): Queues {
  const entries = Object.entries(queueCatalog).map(([key, def]) => {
    const queue = new Queue(def.name, { connection, prefix, defaultJobOptions: defaultJobOptions(key as QueueKey) });
    // Connection errors are the shared client's (see createRedis) and each add reports its own;
    // without a listener BullMQ prints a stack trace to stderr for every failed reconnect.
    queue.on('error', () => {});
    return [key, queue];
  });
  return Object.fromEntries(entries) as Queues;
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
