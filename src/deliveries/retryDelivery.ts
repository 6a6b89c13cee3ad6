import type { Queue } from 'bullmq';
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deliveries } from '../db/schema.ts';
import { queueForChannel, retryJobId, type PayloadOf, type Queues } from '../queues/catalog.ts';
import { isChannel } from '../routing/channels.ts';
import type { DeliveryRow } from './deliveryStore.ts';

/** What a manual retry did: queued a new job, or why it could not. */
export type RetryOutcome =
  | { outcome: 'queued' }
  /** In-app rows are written, not sent: there is nothing to send again. */
  | { outcome: 'not_retryable'; channel: string }
  /** Only a failed delivery can be retried; `state` is what it is (or was, when a racing retry won). */
  | { outcome: 'not_failed'; state: string };

/**
 * Replays one failed delivery (SPEC §7): reopens it as pending and enqueues a new job on its
 * channel's queue. Of two racing retries one wins: the reopen is conditional on the state read.
 * If the enqueue fails the delivery goes back to failed, since without a job nothing would ever
 * move it on from pending; the error propagates.
 */
export async function retryFailedDelivery(db: Db, queues: Queues, row: DeliveryRow): Promise<RetryOutcome> {
  if (!isChannel(row.channel) || row.channel === 'inapp') return { outcome: 'not_retryable', channel: row.channel };
  // A digest's member was carried by its digest's message (SPEC §4.1): retrying it sends that message again.
  if (row.carriedBy && row.state === 'failed') {
    const [carrier] = await db.select().from(deliveries).where(eq(deliveries.id, row.carriedBy));
    if (carrier) return retryFailedDelivery(db, queues, carrier);
  }
  if (row.state !== 'failed') return { outcome: 'not_failed', state: row.state };

  const [reopened] = await db
    .update(deliveries)
    // Out of the group it was routed in, if any: its own job sends it now (src/deliveries/deliveryGroups.ts).
    .set({ state: 'pending', failedAt: null, jobGroup: null, updatedAt: sql`now()` })
    .where(and(eq(deliveries.id, row.id), eq(deliveries.state, 'failed')))
    .returning({ id: deliveries.id });
  if (!reopened) return { outcome: 'not_failed', state: 'no longer failed' };

  // The payload is the same for every delivery queue.
  const queue = queues[queueForChannel(row.channel)] as Queue<PayloadOf<'webhook'>>;
  try {
    await queue.add(row.channel, { deliveryId: row.id, eventId: row.eventId }, { jobId: retryJobId(row) });
  } catch (err) {
    await db
      .update(deliveries)
      .set({ state: 'failed', failedAt: row.failedAt, updatedAt: sql`now()` })
      .where(and(eq(deliveries.id, row.id), eq(deliveries.state, 'pending')));
    throw err;
  }
  return { outcome: 'queued' };
}
