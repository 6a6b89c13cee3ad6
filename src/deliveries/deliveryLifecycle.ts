import { DeliveryDeferredError, DeliveryFailure, NotYetDueError, PermanentDeliveryError, rootCauseMessage } from '../errors.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import type { DeliveryQueue } from '../queues/catalog.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import type { DeliveryContext, DeliveryStore } from './deliveryStore.ts';

export type { DeliveryContext, DeliveryRow, DeliveryStore } from './deliveryStore.ts';

/**
 * What a channel's send reports: `sent` (handed to a relay) or `delivered` (the destination took
 * it). `detail` is the far side's receipt (an SMTP message id and queue id) for tracing; it is
 * kept in the attempt log's text column, which holds the error of a failed try.
 */
export type SendOutcome = { state: 'sent' | 'delivered'; statusCode?: number | undefined; detail?: string };

const FINISHED = new Set(['sent', 'delivered', 'skipped']);

/** What the far side answered, for the attempt log. */
const statusCodeOf = (err: unknown): number | null => (err instanceof DeliveryFailure ? err.statusCode : null);

/**
 * One try of one delivery, with its bookkeeping: every attempt is recorded (time, status code,
 * error, duration), the delivery's state, attempt count and last error follow, and the error is
 * rethrown so the worker retries or fails the job. A delivery already finished is not sent
 * again — a job re-run after a crash must not post twice. The try that uses up the job's run
 * fails the delivery for good: the queue counts only failures it retries itself, not Retry-After
 * waits, so without this a receiver answering 429 forever would be called forever.
 */
export async function performDelivery(
  store: DeliveryStore,
  job: QueueJob<DeliveryQueue>,
  send: (context: DeliveryContext) => Promise<SendOutcome>,
): Promise<SendOutcome | null> {
  const { deliveryId } = job.payload;
  const context = await store.load(deliveryId);
  if (!context) throw new PermanentDeliveryError(`delivery ${deliveryId} does not exist`);
  if (FINISHED.has(context.delivery.state)) return null;
  if (context.delivery.state === 'scheduled') {
    // Deciding is no try: nothing is recorded in the attempt log until the send is made.
    const release = await store.release(context.delivery);
    if (release.kind === 'wait') throw new NotYetDueError(release.until);
    if (release.kind === 'skipped') {
      observeDelivery(context.delivery.channel, 'skipped');
      return null;
    }
  }
  // Read on every try, not only the first: a retry must carry the same events.
  context.digest = await store.digestOf(context.delivery);

  const attempt = context.delivery.attempts + 1;
  const startedAt = new Date();
  try {
    const outcome = await send(context);
    await store.recordSuccess({
      deliveryId,
      attempt,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
      statusCode: outcome.statusCode ?? null,
      outcome: outcome.state,
      error: outcome.detail?.slice(0, 1_000) ?? null,
    });
    observeDelivery(context.delivery.channel, outcome.state, context.acceptedAt);
    return outcome;
  } catch (caught) {
    if (caught instanceof DeliveryDeferredError) throw caught;
    const err = await withinBudget(store, deliveryId, job.run, caught);
    const permanent = err instanceof PermanentDeliveryError;
    const record = {
      deliveryId,
      attempt,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
      statusCode: statusCodeOf(err),
      outcome: permanent ? 'failed' : 'error',
      error: rootCauseMessage(err).slice(0, 1_000),
    } as const;
    await store.recordFailure(record, permanent);
    if (permanent) observeDelivery(context.delivery.channel, 'failed');
    throw err;
  }
}

/** The failure as it stands, or a permanent one when this try used up the run's budget. */
async function withinBudget(store: DeliveryStore, deliveryId: string, run: QueueJob<DeliveryQueue>['run'], err: unknown): Promise<unknown> {
  if (err instanceof PermanentDeliveryError) return err;
  const tries = (await store.triesSince(deliveryId, run.startedAt)) + 1;
  if (tries < run.maxAttempts) return err;
  return new PermanentDeliveryError(`${rootCauseMessage(err)} (gave up after ${tries} attempts)`, { statusCode: statusCodeOf(err) });
}

/** The job gave up (tries used up): the delivery is failed for good, with the last error kept. */
export async function markDeliveryFailed(store: DeliveryStore, deliveryId: string, error: Error): Promise<void> {
  for (const row of await store.markFailed(deliveryId, error)) observeDelivery(row.channel, 'failed');
}
