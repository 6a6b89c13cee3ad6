import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { HttpError, notFound } from '../../errors.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { removeSubscription, saveSubscription } from '../../push/subscriptions.ts';
import { base64UrlBytes, isP256PublicKey, PUSH_NOT_CONFIGURED } from '../../push/vapidKeys.ts';
import { userOf, type Authenticator } from '../authenticate.ts';
import { outboundUrlField } from './directoryCommon.ts';
import { parseOrThrow } from '../params.ts';

export type PushRouteDeps = {
  auth: Authenticator;
  db: Db;
  allowHosts: AllowHosts;
  /** VAPID_PUBLIC_KEY; undefined when push is not configured. */
  vapidPublicKey?: string | undefined;
};

/**
 * A PushSubscription as the browser's `subscription.toJSON()` gives it. The endpoint is a URL a
 * user supplied that Herald will POST to later, so it passes the same outbound check as a
 * webhook URL; the keys are checked now because a bad one would only surface as a failed
 * encryption at every send.
 */
export function pushSubscriptionSchema(allowHosts: AllowHosts) {
  return z.object({
    endpoint: outboundUrlField('webhook', allowHosts),
    expirationTime: z.number().nullish(),
    keys: z.object({
      p256dh: z.string().max(200).refine(isP256PublicKey, 'must be the base64url encoding of a 65-byte P-256 public key'),
      auth: z
        .string()
        .max(100)
        .refine((value) => base64UrlBytes(value)?.length === 16, 'must be the base64url encoding of a 16-byte secret'),
    }),
  });
}

export const pushUnsubscribeBody = z.object({ endpoint: z.string().min(1).max(2048) });

/** SPEC §5: the VAPID public key for browsers, and a signed-in user's own Web Push subscriptions. */
export function pushRouter(deps: PushRouteDeps): Router {
  const router = Router();
  const { db } = deps;
  const subscriptionSchema = pushSubscriptionSchema(deps.allowHosts);

  // No auth: the page needs the key before anyone is asked to allow notifications, and it is public by design.
  router.get('/api/v1/push/vapid-public-key', (_req, res) => {
    if (!deps.vapidPublicKey) throw new HttpError(503, 'push_not_configured', PUSH_NOT_CONFIGURED);
    res.setHeader('cache-control', 'public, max-age=300');
    res.json({ publicKey: deps.vapidPublicKey });
  });

  router.post('/api/v1/me/push-subscriptions', deps.auth.user, async (req, res) => {
    const subscription = parseOrThrow(subscriptionSchema, req.body);
    const { created } = await saveSubscription(db, userOf(req).userId, subscription);
    res.status(created ? 201 : 200).json({ endpoint: subscription.endpoint });
  });

  router.delete('/api/v1/me/push-subscriptions', deps.auth.user, async (req, res) => {
    const { endpoint } = parseOrThrow(pushUnsubscribeBody, req.body ?? {});
    if (!(await removeSubscription(db, userOf(req).userId, endpoint))) throw notFound('push subscription');
    res.status(204).end();
  });

  return router;
}
