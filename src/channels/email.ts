import { isTaskCancelledError, type BulkheadPolicy } from 'cockatiel';
import { performDelivery, type DeliveryStore, type SendOutcome } from '../deliveries/deliveryLifecycle.ts';
import { composeEmail, validAddress } from '../email/composeEmail.ts';
import type { Mailer } from '../email/mailer.ts';
import { PermanentDeliveryError, TransientDeliveryError } from '../errors.ts';
import { deferWhileOpen, sendThroughBreaker, type BreakerRegistry } from '../outbound/breakers.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import { oneLine, type TemplateUser } from '../templates/content.ts';
import { TemplateError } from '../templates/handlebars.ts';
import { renderEmail, type TemplateSource } from '../templates/templateRenderer.ts';

export type EmailDeps = {
  deliveries: DeliveryStore;
  templates: TemplateSource;
  mailer: Mailer;
  breakers: BreakerRegistry;
  /** Bounds concurrent SMTP sends in this process. */
  bulkhead: BulkheadPolicy;
};

/**
 * Sends one stored email delivery (SPEC §4) through the relay's breaker. While the breaker is
 * open the job is put back until it may close, before anything is loaded or rendered.
 */
export async function deliver(job: QueueJob<'email'>, deps: EmailDeps): Promise<SendOutcome | null> {
  const relay = { key: deps.mailer.relayKey, label: `SMTP relay ${deps.mailer.relayKey}` };
  deferWhileOpen(deps.breakers, relay);

  return performDelivery(deps.deliveries, job, async ({ delivery, event, digest, recipient }) => {
    const address = validAddress(delivery.destination);
    if (!address) throw new PermanentDeliveryError(`invalid email address: ${oneLine(delivery.destination).slice(0, 100)}`);
    // A rule's static recipient is no user, but templates can still greet the address.
    const user: TemplateUser = recipient ? { id: recipient.id, name: recipient.name, email: recipient.email } : { id: null, name: null, email: address };
    const { content, replyTo } = await renderEmail(deps.templates, event, user, digest).catch((err: unknown) => {
      // A template that fails to render fails the same way on every try.
      throw err instanceof TemplateError ? new PermanentDeliveryError(`template: ${err.message}`) : err;
    });
    const message = composeEmail({
      from: deps.mailer.from,
      to: { name: user.name ?? '', address },
      replyTo,
      content,
      eventId: event.id,
      tenantId: event.tenantId,
      deliveryId: delivery.id,
    });
    const sent = await deps.bulkhead
      .execute(() => sendThroughBreaker(deps.breakers, relay, () => deps.mailer.send(message, job.signal)), job.signal)
      .catch((err: unknown) => {
        throw isTaskCancelledError(err) ? new TransientDeliveryError('timed out waiting for a free SMTP connection') : err;
      });
    return { state: 'sent', statusCode: sent.statusCode ?? undefined, detail: `message-id ${sent.messageId}; relay: ${oneLine(sent.response).slice(0, 300)}` };
  });
}
