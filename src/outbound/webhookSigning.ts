import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks signing (https://www.standardwebhooks.com): what generic webhook receivers verify. */

const SECRET_PREFIX = 'whsec_';

export type WebhookSignatureHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** A new per-rule signing secret: `whsec_` and 24 random bytes in base64. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(24).toString('base64')}`;
}

/**
 * Signature headers for one delivery attempt. `msgId` must stay the same across retries of the
 * same delivery so receivers can dedupe; `timestamp` is the attempt's time, and `body` must be
 * the exact bytes sent, since the receiver signs what it received.
 */
export function signWebhook(input: {
  secret: string;
  msgId: string;
  timestamp: Date;
  body: string | Buffer;
}): WebhookSignatureHeaders {
  const encodedKey = input.secret.startsWith(SECRET_PREFIX) ? input.secret.slice(SECRET_PREFIX.length) : input.secret;
  const key = Buffer.from(encodedKey, 'base64');
  if (key.length === 0) throw new Error('webhook signing secret is empty');
  const seconds = Math.floor(input.timestamp.getTime() / 1000).toString();
  const signature = createHmac('sha256', key)
    .update(`${input.msgId}.${seconds}.`)
    .update(input.body)
    .digest('base64');
  return { 'webhook-id': input.msgId, 'webhook-timestamp': seconds, 'webhook-signature': `v1,${signature}` };
}
