import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { BulkheadPolicy } from 'cockatiel';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deliveries } from '../db/schema.ts';
import { DeliveryDeferredError, PermanentDeliveryError, RetryLaterError, rootCauseMessage } from '../errors.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { DELIVERY_GROUP_MAX, deliveryGroupJobId, deliveryJobId, firstRetryDelayMs, jobPriority, queueCatalog, type DeliveryQueue, type PayloadOf } from '../queues/catalog.ts';
import { startDeadline } from '../queues/jobDeadline.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import type { Priority } from '../routing/priority.ts';

/**
 * A group of deliveries sent by one job: a webhook's due deliveries of one routing pass, up to
 * DELIVERY_GROUP_MAX of one priority (queueCatalog.webhookGroup). Each row names its group
 * (`job_group`) while the group owns it — a pending row with a group is its group job's, any
 * other pending row its own job's — so a re-run of routing re-adds the group's job by the id on
 * the rows and the outbox sweeper checks that job. Members are the rows that name the group
 * when the job runs, not a list in the job: a job re-added after some were handed off never
 * holds a stale one.
 */

/** The channel whose due deliveries routing puts in groups. */
const GROUPED_CHANNEL = 'webhook';

/**
 * Routing's part: each due webhook delivery (pending, not scheduled) of a pass gets a group, a
 * new one per priority every DELIVERY_GROUP_MAX rows; every other row is left as it is, in none.
 */
export function withDeliveryGroups<R extends { channel: string; state: string; priority: string; job_group: string | null }>(rows: R[]): R[] {
  const open = new Map<string, { id: string; size: number }>();
  return rows.map((row) => {
    if (row.channel !== GROUPED_CHANNEL || row.state !== 'pending') return row;
    let group = open.get(row.priority);
    if (!group || group.size === DELIVERY_GROUP_MAX) {
      group = { id: randomUUID(), size: 0 };
      open.set(row.priority, group);
    }
    group.size++;
    return { ...row, job_group: group.id };
  });
}

/** A group's job, as routing enqueues it: it carries only the group, whose rows are its members. */
export function deliveryGroupJob(group: string, priority: Priority): { name: string; data: PayloadOf<'webhookGroup'>; opts: { jobId: string; priority?: number } } {
  return { name: queueCatalog.webhookGroup.name, data: { group }, opts: { jobId: deliveryGroupJobId(group), ...jobPriority(priority) } };
}

/**
 * The members a group's job sends: the rows still pending under it, oldest first, as the queue
 * would have taken jobs of their own (ids are UUIDv7, time first). `pending` is written out, not
 * a parameter: the workers plan each statement once, for any parameters, and only a literal
 * state lets that plan use the partial index of pending members (test/deliveries/deliveryGroups.test.ts).
 */
export function groupMembersQuery(db: Db) {
  return db
    .select({ id: deliveries.id, eventId: deliveries.eventId, priority: deliveries.priority })
    .from(deliveries)
    .where(and(eq(deliveries.jobGroup, sql.placeholder('group')), sql`${deliveries.state} = 'pending'`))
    .orderBy(deliveries.id);
}

export type DeliveryGroupDeps = {
  db: Db;
  /** groupMembersQuery, prepared once per process. */
  members: { execute(params: { group: string }): Promise<Member[]> };
  /** One send of one delivery, with its bookkeeping (the channel's `deliver`). */
  send: (job: QueueJob<DeliveryQueue>) => Promise<unknown>;
  /** Sends at once in this process, across its groups. */
  sends: BulkheadPolicy;
  /** The channel's own queue, where a member that failed goes on as a job of its own. */
  memberQueue: Queue<PayloadOf<'webhook'>>;
  /** What a member's job starts with; the group's schedule continues there. */
  member: { queue: DeliveryQueue; timeoutMs: number; retryBackoffMs?: number };
};

type Member = { id: string; eventId: string; priority: Priority };

/**
 * Sends the members of a group, each as its own job would (performDelivery's bookkeeping, the
 * channel's timeout). A member that fails is handed to a job of its own — released from the
 * group, then enqueued with the wait its failure asks for — so its retries are its own and a
 * re-run of the group skips it. The group fails (and is tried again) only when a hand-off
 * could not be made; members sent meanwhile are not pending any more, so a re-run skips them.
 */
export async function sendDeliveryGroup(job: QueueJob<'webhookGroup'>, deps: DeliveryGroupDeps): Promise<{ members: number; handedOff: number }> {
  const members = await deps.members.execute({ group: job.payload.group });
  const outcomes = await Promise.allSettled(members.map((member) => deps.sends.execute(() => sendMember(job, member, deps))));
  const unhanded = outcomes.find((outcome) => outcome.status === 'rejected');
  if (unhanded) throw unhanded.reason;
  return { members: members.length, handedOff: outcomes.filter((outcome) => outcome.status === 'fulfilled' && outcome.value).length };
}

/** One member's send; true when it failed and was handed to a job of its own. */
async function sendMember(group: QueueJob<'webhookGroup'>, member: Member, deps: DeliveryGroupDeps): Promise<boolean> {
  // Timed as the worker runner times a job of its own.
  const deadline = startDeadline(deps.member.timeoutMs);
  const job: QueueJob<DeliveryQueue> = {
    payload: { deliveryId: member.id, eventId: member.eventId },
    attempt: 1,
    run: { startedAt: group.run.startedAt, maxAttempts: queueCatalog[deps.member.queue].attempts },
    get signal() {
      return deadline.signal;
    },
    logger: group.logger,
  };
  try {
    await deadline.race(deps.send(job));
    return false;
  } catch (err) {
    // Recorded as failed for good by the send's bookkeeping (or a row that is gone): nothing left to do.
    if (err instanceof PermanentDeliveryError) return false;
    await handOff(member, err, deps);
    group.logger.warn({ deliveryId: member.id, eventId: member.eventId, outcome: 'retrying', err: rootCauseMessage(err) }, 'delivery failed; handed to a job of its own');
    return true;
  } finally {
    deadline.clear();
  }
}

/**
 * A failed member leaves its group for a job of its own: released first, so that if the enqueue
 * fails the row is pending without a group or a job — which the outbox sweeper finds and routes
 * again — never a member of two jobs. The job waits what the failure asked for (Retry-After, an
 * open circuit) or the queue's first backoff, and has the tries the group's send did not use.
 */
async function handOff(member: Member, err: unknown, deps: DeliveryGroupDeps): Promise<void> {
  await deps.db
    .update(deliveries)
    .set({ jobGroup: null, updatedAt: sql`now()` })
    .where(and(eq(deliveries.id, member.id), sql`${deliveries.jobGroup} is not null`));
  const { queue, retryBackoffMs } = deps.member;
  const tried = !(err instanceof DeliveryDeferredError);
  const delay = err instanceof RetryLaterError ? err.retryAfterMs : firstRetryDelayMs(queue, retryBackoffMs);
  await deps.memberQueue.add(
    queue,
    { deliveryId: member.id, eventId: member.eventId },
    { jobId: deliveryJobId(member.id), delay, attempts: queueCatalog[queue].attempts - (tried ? 1 : 0), ...jobPriority(member.priority) },
  );
}

/**
 * The group's job gave up (its bookkeeping failed every try: Postgres away for its whole run):
 * every member still in it fails for good, its error kept, as a delivery's own job fails it.
 */
export async function markGroupFailed(db: Db, group: string, error: Error): Promise<void> {
  const failed = await db
    .update(deliveries)
    .set({ state: 'failed', failedAt: sql`now()`, updatedAt: sql`now()`, lastError: sql`coalesce(${deliveries.lastError}, ${rootCauseMessage(error).slice(0, 1_000)})` })
    .where(and(eq(deliveries.jobGroup, group), sql`${deliveries.state} = 'pending'`))
    .returning({ channel: deliveries.channel });
  for (const row of failed) observeDelivery(row.channel, 'failed');
}
