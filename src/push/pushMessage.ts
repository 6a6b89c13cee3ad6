import { createHash } from 'node:crypto';
import type { Urgency } from 'web-push';
import { priorityRank, type Priority } from '../routing/priority.ts';
import { normalizeSeverity, severityRank } from '../routing/severity.ts';

/** What the service worker (src/push/serviceWorker.js) receives, as JSON. */
export type PushMessage = {
  title: string;
  body: string;
  url: string | null;
  eventId: string;
  /** The inbox row, when the in-app worker wrote it before this push went out. */
  notificationId?: string;
  /** showNotification's tag: a later notification for the same event replaces the shown one. */
  tag: string;
};

/**
 * Push services accept at most 4096 bytes of encrypted body (RFC 8030 §7.2). aes128gcm spends
 * 86 bytes on its header (salt, record size, sender key) and 17 on the padding delimiter and
 * the authentication tag, which leaves this much for the JSON.
 */
export const MAX_PUSH_PAYLOAD_BYTES = 4096 - 86 - 17;

const ELLIPSIS = '…';
const byteLength = (message: PushMessage) => Buffer.byteLength(JSON.stringify(message));

/** `text` cut to `chars` code points, marked as cut; never splits a surrogate pair. */
function cut(codePoints: string[], chars: number): string {
  return chars >= codePoints.length ? codePoints.join('') : codePoints.slice(0, chars).join('') + ELLIPSIS;
}

/** The longest cut of `field` that fits, found by bisection since JSON escaping makes bytes per character uneven. */
function shrinkToFit(message: PushMessage, field: 'title' | 'body', limit: number): PushMessage {
  const codePoints = Array.from(message[field]);
  let low = 0;
  let high = codePoints.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (byteLength({ ...message, [field]: cut(codePoints, mid) }) <= limit) low = mid;
    else high = mid - 1;
  }
  return { ...message, [field]: low === 0 ? '' : cut(codePoints, low) };
}

/**
 * The message as JSON within the push size limit: the body gives way first, then the title,
 * and a link too long to fit is dropped rather than cut (a cut URL leads somewhere else).
 */
export function encodePushMessage(message: PushMessage, limit: number = MAX_PUSH_PAYLOAD_BYTES): string {
  let fitted = message;
  if (byteLength(fitted) > limit) fitted = shrinkToFit(fitted, 'body', limit);
  if (byteLength(fitted) > limit) fitted = shrinkToFit(fitted, 'title', limit);
  if (byteLength(fitted) > limit) fitted = { ...fitted, url: null };
  const json = JSON.stringify(fitted);
  // Only the event id and tag are left, and they are bounded far below the limit.
  if (Buffer.byteLength(json) > limit) throw new Error(`push message for ${message.eventId} does not fit in ${limit} bytes`);
  return json;
}

export type PushDeliveryOptions = { urgency: Urgency; ttlSeconds: number };

const HOUR = 3_600;

/** SPEC §3.1: the notification's priority sets how urgently a push service wakes the device (RFC 8030 §5.3). */
const URGENCY_OF: Record<Priority, Urgency> = { low: 'low', normal: 'normal', high: 'high', urgent: 'high' };

/**
 * How urgently a push service should wake the device, and how long it keeps the message for an
 * offline one. Low-severity news of no more than normal priority that arrives a day late is
 * clutter, so it expires sooner.
 */
export function pushDeliveryOptions(priority: Priority, severity: string | null | undefined): PushDeliveryOptions {
  const normalized = normalizeSeverity(severity);
  const matters = priorityRank(priority) >= priorityRank('high') || (!!normalized && severityRank(normalized) >= severityRank('medium'));
  return { urgency: URGENCY_OF[priority], ttlSeconds: (matters ? 24 : 4) * HOUR };
}

/**
 * The Topic header (RFC 8030 §5.4) for an event: a push service replaces an undelivered message
 * with a newer one of the same topic. Event ids can be 200 characters of any kind, and a topic
 * must be at most 32 base64url characters, hence a hash.
 */
export function pushTopic(eventId: string): string {
  return createHash('sha256').update(eventId).digest('base64url').slice(0, 32);
}
