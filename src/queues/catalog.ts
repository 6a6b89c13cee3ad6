import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis.ts';
import { z } from 'zod';
import { eventKey, type EventEnvelope, type EventRef } from '../intake/eventEnvelope.ts';
import type { Channel } from '../routing/channels.ts';
import { prioritySchema, type Priority } from '../routing/priority.ts';

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
  /**
   * Whether a completed job stays for a while (the default), so that adding its id again is a
   * no-op. A queue whose work is idempotent anyway and whose jobs are large drops them at once.
   */
  keepCompleted?: boolean;
};

function defineQueue<P extends z.ZodType>(definition: QueueDefinition<P>): QueueDefinition<P> {
  return definition;
}

/** The most events one route job carries: the most one intake INSERT stores (the batch endpoint's limit). */
export const ROUTE_JOB_MAX_EVENTS = 1_000;

const eventRefSchema = z.object({ tenantId: z.string().min(1), id: z.string().min(1) });

/** One stored delivery row to send; the worker loads everything else from it, so a retry sees current data. */
const deliveryJobPayload = z.object({ deliveryId: z.uuid(), eventId: z.string().min(1) });

/** Every queue Herald has: producers and workers both read it, so they cannot disagree. */
export const queueCatalog = {
  /**
   * One job per intake commit group: the ids of the events that one INSERT stored, and — from
   * the intake, not from the sweeper — the stored envelopes themselves, so the router need not
   * read back what was just written. The rows stay the source of truth: a retry reads them.
   */
  route: defineQueue({
    name: 'route',
    payload: z.object({
      events: z.array(eventRefSchema).min(1).max(ROUTE_JOB_MAX_EVENTS),
      // Validated by the intake before it was stored; checking every envelope again would cost the router more than the read it saves.
      stored: z.object({ envelopes: z.array(z.custom<EventEnvelope>()), acceptedAt: z.string() }).optional(),
    }),
    attempts: 10,
    backoffMs: 1_000,
    timeoutMs: 60_000,
    // The router routes the events of the jobs it holds at once as one group
    // (workers/roles/router.ts); a group costs the round trips of one event.
    concurrency: 16,
    // Routing is idempotent, and these jobs carry their envelopes: keeping an hour of them would hold the whole stream of events in Redis.
    keepCompleted: false,
  }),
  /** Large fan-outs only: the router writes the inbox rows of smaller ones itself (INLINE_INAPP_MAX). */
  inapp: defineQueue({
    name: 'inapp',
    payload: z
      .object({
        tenantId: z.string(),
        eventId: z.string(),
        userIds: z.array(z.string()).min(1),
        /**
         * What routing decided for each user, in userIds' order: their priority and the rule
         * whose content their row takes. A job enqueued before these fields existed has neither,
         * and the worker reads them from the deliveries.
         */
        priorities: z.array(prioritySchema).optional(),
        ruleIds: z.array(z.string().nullable()).optional(),
        /**
         * The batch's place among its event's, when the router recorded it as an in-app batch
         * (src/inbox/inappBatches.ts). A job without it was enqueued beside a pending delivery
         * row per user, which the worker marks sent.
         */
        batch: z.number().int().nonnegative().optional(),
      })
      .refine((batch) => [batch.priorities, batch.ruleIds].every((list) => list === undefined || list.length === batch.userIds.length), {
        message: 'priorities and ruleIds go one per user',
      }),
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
    // Four in hand per SMTP connection at the default EMAIL_CONCURRENCY of 5: while one sends, the
    // next are loaded and rendered, and the grouped load and record carry more sends per
    // statement than with 10 in hand (three alternating pairs of the email bench: worker CPU per
    // email 2.31 ms against 2.70 on average, 0.47× the nodemailer loop against 0.39×). A job
    // waits for a connection (the bulkhead) inside its own timeout.
    concurrency: 20,
  }),
  webhook: defineQueue({
    name: 'webhook',
    payload: deliveryJobPayload,
    // Receivers go down for deploys; nine retries doubling from 5 s span about forty minutes.
    attempts: 10,
    backoffMs: 5_000,
    timeoutMs: 20_000,
    // Well above the 20 sockets a host gets: a job's time in flight is mostly waiting for the
    // grouped load and record, whose one flusher takes whatever jobs wait (src/groupCommit.ts),
    // so more jobs held means larger statements, not more connections (docs/benchmarks.md).
    concurrency: 64,
  }),
  /**
   * A webhook's due deliveries from one routing pass, up to DELIVERY_GROUP_MAX of one priority,
   * sent by one job (src/deliveries/deliveryGroups.ts): a BullMQ job's lifecycle per delivery
   * was a tenth of the webhook worker's CPU. The job names its group; the rows that name it are
   * its members. A member that fails is recorded and handed to a `webhook` job of its own, so
   * retries stay per delivery; this job's own tries are for failures of the group's bookkeeping
   * (Postgres away), and its timeout covers sends that each have the webhook's own.
   */
  webhookGroup: defineQueue({
    name: 'webhook-group',
    payload: z.object({ group: z.uuid() }),
    attempts: 10,
    backoffMs: 5_000,
    timeoutMs: 10 * 60_000,
    // A group's job holds its slot until its slowest member is sent or handed off (a receiver
    // that hangs until the timeout, before its breaker opens): many groups in hand, so a few slow
    // ones never hold back the rest. The sends themselves share one limit, the webhook's 64.
    concurrency: 16,
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

/**
 * Finished jobs are kept for a while so a duplicate add with the same job id stays a no-op.
 * Both limits have a count as well as an age, so Redis memory stays bounded however many jobs
 * finish in an hour or fail in a week (SPEC §8.1); the delivery rows keep the history.
 */
const KEEP_COMPLETED = { age: 3_600, count: 20_000 };
const KEEP_FAILED = { age: 7 * 86_400, count: 50_000 };

/** The share of a retry's delay taken off at random, so retries of one failure spread out. */
const RETRY_JITTER = 0.5;

/** `retryBackoffMs` (RETRY_BACKOFF_MS) replaces the queue's own first retry delay. */
export function defaultJobOptions(key: QueueKey, retryBackoffMs?: number): JobsOptions {
  const def: QueueDefinition<z.ZodType> = queueCatalog[key];
  return {
    attempts: def.attempts,
    backoff: { type: 'exponential', delay: retryBackoffMs ?? def.backoffMs, jitter: RETRY_JITTER },
    removeOnComplete: def.keepCompleted === false ? true : KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  };
}

/** The wait before a first retry, as BullMQ draws it from defaultJobOptions' backoff. */
export function firstRetryDelayMs(key: QueueKey, retryBackoffMs?: number): number {
  const delay = retryBackoffMs ?? queueCatalog[key].backoffMs;
  return Math.floor(delay * (1 - RETRY_JITTER * Math.random()));
}

/**
 * Deterministic job ids: the same logical work always gets the same id, so enqueuing it twice
 * (a re-run of routing, the outbox sweeper) adds nothing. BullMQ forbids ':' in custom ids.
 */
export function jobIdFor(...parts: string[]): string {
  return Buffer.from(parts.join('\u0000')).toString('base64url');
}

/** The route job of a group of stored events: the same events always make the same job. */
export function routeJobId(events: EventRef[]): string {
  const digest = createHash('sha256').update(events.map(eventKey).sort().join('\u0001')).digest('base64url');
  return jobIdFor('route', digest);
}

/**
 * An event whose in-app recipients are at most this many has its inbox rows written by the
 * router in the same pass that routes it: no in-app job, no second hop, its frames out in the
 * time of one group. Larger fan-outs go to the in-app queue in batches, so one big broadcast
 * never holds up the small events routed with it.
 */
export const INLINE_INAPP_MAX = 100;

/**
 * Users per in-app job: one job writes its inbox rows in one statement. At most 4,096: a pending
 * person's timeline line carries their place in the batch in 12 bits (batchLineId).
 */
export const INAPP_BATCH_SIZE = 1_000;

/** The job id of an event's `batch`-th in-app batch (users in sorted order, INAPP_BATCH_SIZE per batch). */
export function inappJobId(event: EventRef, batch: number): string {
  return jobIdFor('inapp', event.tenantId, event.id, String(batch));
}

/**
 * A job's place in its queue by the priority of what it delivers (SPEC §3.1: urgent first).
 * BullMQ runs jobs without a priority before any with one, and lower numbers first: urgent takes
 * no priority, and the rest 1 (high) to 3 (low).
 */
export function jobPriority(priority: Priority): { priority?: number } {
  return priority === 'urgent' ? {} : { priority: { high: 1, normal: 2, low: 3 }[priority] };
}

export type DeliveryQueue = 'email' | 'webhook' | 'chat' | 'push';

/** The queue that sends one stored delivery of a channel; Slack and Teams share `chat`. In-app goes by batches instead. */
export function queueForChannel(channel: Exclude<Channel, 'inapp'>): DeliveryQueue {
  return channel === 'slack' || channel === 'teams' ? 'chat' : channel;
}

/** The job id of a delivery's send: one per delivery row, so enqueuing it again adds nothing. */
export function deliveryJobId(deliveryId: string): string {
  return jobIdFor('delivery', deliveryId);
}

/** The most members one webhook group job sends (see queueCatalog.webhookGroup). */
export const DELIVERY_GROUP_MAX = 100;

/** The job id of a group of deliveries: the group's own, stored on its rows, so re-adding it adds nothing. */
export function deliveryGroupJobId(group: string): string {
  return jobIdFor('group', group);
}

/**
 * The job id of a manual retry of a failed delivery. Each retry gets its own: the delivery's
 * first job may still sit in the failed set, and re-adding its id would be a silent no-op.
 * Derived from the failure being retried, so two racing requests for the same failure add one job.
 */
export function retryJobId(row: { id: string; attempts: number; failedAt: Date | null }): string {
  return jobIdFor('delivery', row.id, 'retry', String(row.attempts), String(row.failedAt?.getTime() ?? 0));
}

export type Queues = { [K in QueueKey]: Queue<PayloadOf<K>> };

export function createQueues(connection: RedisClient, prefix: string, retryBackoffMs?: number): Queues {
  const entries = Object.entries(queueCatalog).map(([key, def]) => {
    const queue = new Queue(def.name, { connection, prefix, defaultJobOptions: defaultJobOptions(key as QueueKey, retryBackoffMs) });
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
