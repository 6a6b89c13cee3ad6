import { defaultMaxListeners, setMaxListeners } from 'node:events';
import { and, eq } from 'drizzle-orm';
import webpush, { type RequestDetails } from 'web-push';
import type { Db } from '../db/client.ts';
import { notifications } from '../db/schema.ts';
import { performDelivery, type DeliveryStore, type SendOutcome } from '../deliveries/deliveryLifecycle.ts';
import { DeliveryDeferredError, PermanentDeliveryError, RetryLaterError, TransientDeliveryError, type DeliveryFailure } from '../errors.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { sendThroughBreaker, type BreakerRegistry } from '../outbound/breakers.ts';
import { describeUrlForLogs, type OutboundClient } from '../outbound/httpClient.ts';
import { encodePushMessage, pushDeliveryOptions, pushTopic, type PushDeliveryOptions, type PushMessage } from '../push/pushMessage.ts';
import { removeSubscription, subscriptionsOf, type PushSubscriptionRow } from '../push/subscriptions.ts';
import { PUSH_NOT_CONFIGURED, type VapidDetails } from '../push/vapidKeys.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import { deliveryMessageText, type MessageText } from '../templates/messageText.ts';
import type { TemplateSource } from '../templates/templateRenderer.ts';

export type PushDeps = {
  db: Db;
  deliveries: DeliveryStore;
  /** The guarded outbound client: a subscription endpoint is a URL a user supplied. */
  client: OutboundClient;
  breakers: BreakerRegistry;
  templates: TemplateSource;
  /** null when VAPID is not configured: every push then fails, saying so. */
  vapid: VapidDetails | null;
};

type DeviceOutcome =
  | { kind: 'accepted'; statusCode: number }
  | { kind: 'gone'; error: PermanentDeliveryError }
  | { kind: 'failed'; error: DeliveryFailure }
  /** Not sent: the push service's circuit is open until then. */
  | { kind: 'deferred'; until: number; destination: string };

// The push service's way of saying "this subscription no longer exists" (RFC 8030 §7.3).
const GONE_STATUSES = new Set([404, 410]);

/**
 * Sends one push delivery (one event to one user) to every device the user has subscribed. The
 * delivery is `delivered` once any push service accepted it. A device whose subscription is gone
 * (404/410) is forgotten; when none is left the delivery fails for good. Otherwise, with no
 * device reached, the failure decides: 429/5xx/timeouts retry (honouring Retry-After), other
 * refusals fail at once.
 */
export async function deliver(job: QueueJob<'push'>, deps: PushDeps): Promise<SendOutcome | null> {
  return performDelivery(deps.deliveries, job, async ({ delivery, event, rule, digest }) => {
    if (!deps.vapid) throw new PermanentDeliveryError(PUSH_NOT_CONFIGURED);
    const userId = delivery.userId ?? delivery.destination;
    const devices = await subscriptionsOf(deps.db, userId);
    if (devices.length === 0) throw new PermanentDeliveryError(`user ${userId} has no Web Push subscription (unsubscribed after routing)`);

    const text = await deliveryMessageText(deps.templates, event, 'push', rule?.content ?? null, digest);
    const body = encodePushMessage(await pushMessageFor(deps.db, event, userId, text));
    const options = pushDeliveryOptions(delivery.priority, event.severity);
    const topic = pushTopic(event.id);
    // Each device's request listens on the job's signal until it settles, up to 20 at once: past
    // Node's default of 10, a user's many devices would log a false "possible memory leak".
    setMaxListeners(defaultMaxListeners + devices.length, job.signal);
    const outcomes = await Promise.all(devices.map((device) => sendToDevice(deps, device, { body, options, topic, signal: job.signal })));

    for (const [i, outcome] of outcomes.entries()) {
      const device = describeUrlForLogs(devices[i]!.endpoint);
      if (outcome.kind === 'accepted') job.logger.debug({ device, statusCode: outcome.statusCode }, 'push accepted');
      else if (outcome.kind === 'deferred') job.logger.warn({ device, until: new Date(outcome.until).toISOString() }, 'push service circuit open; not sent');
      else job.logger.warn({ device, outcome: outcome.kind, err: outcome.error.message }, outcome.kind === 'gone' ? 'push subscription gone; removed' : 'push not accepted');
    }
    await Promise.all(outcomes.map((o, i) => (o.kind === 'gone' ? removeSubscription(deps.db, userId, devices[i]!.endpoint) : null)));
    return settle(outcomes);
  });
}

/** The delivery's outcome from its devices' outcomes: delivered, or the error that says whether to retry. */
function settle(outcomes: DeviceOutcome[]): SendOutcome {
  const accepted = outcomes.find((o) => o.kind === 'accepted');
  // Devices that failed beside one that got it are not retried: a retry would push the others twice.
  if (accepted) return { state: 'delivered', statusCode: accepted.statusCode };

  const gone = outcomes.filter((o) => o.kind === 'gone');
  if (gone.length === outcomes.length) {
    const what = gone.length === 1 ? 'the user’s only push subscription is' : `all ${gone.length} push subscriptions of the user are`;
    throw new PermanentDeliveryError(`${what} gone (${gone[0]!.error.message}); removed`, { statusCode: gone[0]!.error.statusCode });
  }

  const deferred = outcomes.filter((o) => o.kind === 'deferred');
  const failures = outcomes.flatMap((o) => (o.kind === 'failed' ? [o.error] : []));
  const latest = Math.max(0, ...deferred.map((o) => o.until));
  if (failures.length === 0) {
    // Nothing was tried against a live service, so no try is spent (see DeliveryDeferredError).
    throw new DeliveryDeferredError(deferred.map((o) => o.destination).join(', '), latest);
  }

  const summary = `no device accepted the push: ${outcomes.flatMap((o) => (o.kind === 'failed' || o.kind === 'gone' ? [o.error.message] : [])).join('; ')}`;
  const waits = [...failures.flatMap((e) => (e instanceof RetryLaterError ? [e.retryAfterMs] : [])), ...(deferred.length > 0 ? [latest - Date.now()] : [])];
  // The attempt log keeps the status of a failure that decides the retry.
  const status = { statusCode: (failures.find((e) => !(e instanceof PermanentDeliveryError)) ?? failures[0]!).statusCode };
  if (waits.length > 0) {
    // The longest wait: calling a service that asked for more time earlier than it said gets us throttled harder.
    throw new RetryLaterError(summary, Math.max(1_000, ...waits), status);
  }
  if (failures.some((e) => e instanceof TransientDeliveryError)) throw new TransientDeliveryError(summary, status);
  throw new PermanentDeliveryError(summary, status);
}

type SendPlan = { body: string; options: PushDeliveryOptions; topic: string; signal?: AbortSignal | undefined };

async function sendToDevice(deps: PushDeps, device: PushSubscriptionRow, plan: SendPlan): Promise<DeviceOutcome> {
  const destination = describeUrlForLogs(device.endpoint);
  // One breaker per subscription endpoint (see BreakerRegistry): push services are shared hosts.
  const key = device.endpoint;
  let request: RequestDetails;
  try {
    // web-push only encrypts and signs here; the request itself goes through the guarded client.
    request = webpush.generateRequestDetails({ endpoint: device.endpoint, keys: { p256dh: device.p256dh, auth: device.auth } }, plan.body, {
      vapidDetails: deps.vapid!,
      TTL: plan.options.ttlSeconds,
      urgency: plan.options.urgency,
      topic: plan.topic,
    });
  } catch (err) {
    return { kind: 'failed', error: new PermanentDeliveryError(`${destination}: cannot encrypt for this subscription: ${(err as Error).message}`) };
  }

  try {
    const answer = await sendThroughBreaker(deps.breakers, { key, label: destination }, () =>
      deps.client.post(device.endpoint, { kind: 'webhook', body: request.body!, headers: headersOf(request), signal: plan.signal }),
    );
    return { kind: 'accepted', statusCode: answer.statusCode };
  } catch (err) {
    if (err instanceof DeliveryDeferredError) return { kind: 'deferred', until: err.until, destination };
    if (err instanceof PermanentDeliveryError && err.statusCode !== null && GONE_STATUSES.has(err.statusCode)) return { kind: 'gone', error: err };
    return { kind: 'failed', error: err as DeliveryFailure };
  }
}

/** web-push's headers as strings; Content-Length is left to the HTTP client, which knows the body it sends. */
function headersOf(request: RequestDetails): Record<string, string> {
  return Object.fromEntries(
    Object.entries(request.headers)
      .filter(([name]) => name.toLowerCase() !== 'content-length')
      .map(([name, value]) => [name, String(value)]),
  );
}

async function pushMessageFor(db: Db, event: EventEnvelope, userId: string, { title, body, url }: MessageText): Promise<PushMessage> {
  const [inbox] = await db
    .select({ id: notifications.id })
    .from(notifications)
    .where(and(eq(notifications.tenantId, event.tenantId), eq(notifications.eventId, event.id), eq(notifications.userId, userId)));
  return { title, body, url, eventId: event.id, ...(inbox && { notificationId: String(inbox.id) }), tag: `herald:${event.id}` };
}
