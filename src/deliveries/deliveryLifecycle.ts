import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deliveries, deliveryAttempts, events } from '../db/schema.ts';
import { PermanentDeliveryError, rootCauseMessage } from '../errors.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';

export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryContext = { delivery: DeliveryRow; event: EventEnvelope };

/** What a channel's send reports: `sent` (handed to a relay) or `delivered` (the destination took it). */
export type SendOutcome = { state: 'sent' | 'delivered'; statusCode?: number };

const FINISHED = new Set(['sent', 'delivered', 'skipped']);

/** An HTTP status carried by a delivery error, for the attempt log. */
function statusCodeOf(err: unknown): number | null {
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : null;
}

export async function loadDelivery(db: Db, deliveryId: string): Promise<DeliveryContext | null> {
  const [row] = await db
    .select({ delivery: deliveries, envelope: events.envelope })
    .from(deliveries)
    .innerJoin(events, eq(events.id, deliveries.eventId))
    .where(eq(deliveries.id, deliveryId));
  return row ? { delivery: row.delivery, event: row.envelope as unknown as EventEnvelope } : null;
}

/**
 * One try of one delivery, with its bookkeeping: every attempt is recorded (time, status code,
 * error, duration), the delivery's state, attempt count and last error follow, and the error is
 * rethrown so the worker retries or fails the job. A delivery already finished is not sent
 * again — a job re-run after a crash must not post twice.
 */
export async function performDelivery(
  db: Db,
  deliveryId: string,
  send: (context: DeliveryContext) => Promise<SendOutcome>,
): Promise<SendOutcome | null> {
  const context = await loadDelivery(db, deliveryId);
  if (!context) throw new PermanentDeliveryError(`delivery ${deliveryId} does not exist`);
  if (FINISHED.has(context.delivery.state)) return null;

  const attempt = context.delivery.attempts + 1;
  const startedAt = new Date();
  try {
    const outcome = await send(context);
    const durationMs = Date.now() - startedAt.getTime();
    await db.transaction(async (tx) => {
      await tx.insert(deliveryAttempts).values({ deliveryId, attempt, startedAt, durationMs, statusCode: outcome.statusCode ?? null, outcome: outcome.state });
      await tx
        .update(deliveries)
        .set({
          state: outcome.state,
          attempts: attempt,
          lastError: null,
          updatedAt: sql`now()`,
          sentAt: sql`now()`,
          ...(outcome.state === 'delivered' && { deliveredAt: sql`now()` }),
        })
        .where(eq(deliveries.id, deliveryId));
    });
    return outcome;
  } catch (err) {
    const message = rootCauseMessage(err).slice(0, 1_000);
    const permanent = err instanceof PermanentDeliveryError;
    await db.transaction(async (tx) => {
      await tx.insert(deliveryAttempts).values({
        deliveryId,
        attempt,
        startedAt,
        durationMs: Date.now() - startedAt.getTime(),
        statusCode: statusCodeOf(err),
        outcome: permanent ? 'failed' : 'error',
        error: message,
      });
      await tx
        .update(deliveries)
        .set({ attempts: attempt, lastError: message, updatedAt: sql`now()`, ...(permanent && { state: 'failed', failedAt: sql`now()` }) })
        .where(eq(deliveries.id, deliveryId));
    });
    throw err;
  }
}

/** The job gave up (tries used up): the delivery is failed for good, with the last error kept. */
export async function markDeliveryFailed(db: Db, deliveryId: string, error: Error): Promise<void> {
  await db
    .update(deliveries)
    .set({ state: 'failed', failedAt: sql`now()`, updatedAt: sql`now()`, lastError: sql`coalesce(${deliveries.lastError}, ${rootCauseMessage(error).slice(0, 1_000)})` })
    .where(sql`${deliveries.id} = ${deliveryId} and ${deliveries.state} = 'pending'`);
}
