import type { SendOutcome } from '../deliveries/deliveryLifecycle.ts';
import { deliverOverHttp, type HttpDeliveryDeps } from '../deliveries/httpDelivery.ts';
import { PermanentDeliveryError } from '../errors.ts';
import { publicView } from '../intake/eventEnvelope.ts';
import { signWebhook } from '../outbound/webhookSigning.ts';
import type { QueueJob } from '../queues/queueJob.ts';

export type WebhookDeps = HttpDeliveryDeps;

/**
 * Posts one webhook delivery to its rule's URL, signed per Standard Webhooks with the rule's
 * secret. The body is the event's public view (SPEC §7). The rule is read with the delivery at
 * each try, so a changed URL or a rotated secret applies to the next try.
 */
export async function deliver(job: QueueJob<'webhook'>, deps: WebhookDeps): Promise<SendOutcome | null> {
  return deliverOverHttp(job, deps, async ({ delivery, event, rule }) => {
    if (!delivery.ruleId) throw new PermanentDeliveryError('webhook delivery names no rule');
    if (!rule) throw new PermanentDeliveryError(`rule ${delivery.ruleId} no longer exists`);
    if (!rule.webhookUrl || !rule.secret) throw new PermanentDeliveryError(`rule ${delivery.ruleId} has no webhook URL or signing secret`);

    const body = JSON.stringify(publicView(event));
    // webhook-id is the delivery, not the attempt: the same across retries and manual replays, so receivers can dedupe.
    const signature = signWebhook({ secret: rule.secret, msgId: delivery.id, timestamp: new Date(), body });
    return { url: rule.webhookUrl, kind: 'webhook', body, headers: { 'content-type': 'application/json', ...signature } };
  });
}
