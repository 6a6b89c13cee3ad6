import type { IncomingHttpHeaders } from 'node:http';
import { PermanentDeliveryError, RetryLaterError, TransientDeliveryError, type DeliveryFailure } from '../errors.ts';

/** A receiver may not park a job for longer than this, whatever its Retry-After says. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
// Retry-After: 0 would otherwise retry in a tight loop, spending attempts without waiting.
const MIN_RETRY_AFTER_MS = 1000;

/** Milliseconds to wait from a Retry-After header (delta-seconds or HTTP date), capped; null if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  let waitMs: number;
  if (/^\d+$/.test(trimmed)) {
    waitMs = Number(trimmed) * 1000;
  } else {
    // Date.parse reads almost anything ('-5' is a year); HTTP dates always carry day and month names.
    const at = /^[a-z]{3}/i.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
    if (Number.isNaN(at)) return null;
    waitMs = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_AFTER_MS, waitMs));
}

export type OutcomeContext = {
  /** Where the request went, already stripped of secrets (see describeUrlForLogs). */
  destination?: string;
  /** A short excerpt of the response body: Slack and Teams explain rejections there. */
  detail?: string;
  now?: number;
};

/**
 * The error an HTTP answer means for a delivery, or null when it was delivered (2xx).
 * 3xx is permanent because redirects are never followed: a receiver that moved must be re-saved,
 * and following it could lead to an address the URL check never saw.
 */
export function classifyHttpOutcome(
  statusCode: number,
  headers: IncomingHttpHeaders,
  context: OutcomeContext = {},
): DeliveryFailure | null {
  if (statusCode >= 200 && statusCode < 300) return null;
  const detail = context.detail?.trim() ? `: ${context.detail.trim()}` : '';
  const message = `${context.destination ?? 'receiver'} answered HTTP ${statusCode}${detail}`;
  const status = { statusCode };
  if (statusCode >= 300 && statusCode < 400) {
    return new PermanentDeliveryError(`${message} (redirects are not followed)`, status);
  }
  if (statusCode === 429 || statusCode === 503) {
    const waitMs = parseRetryAfter(headers['retry-after'], context.now);
    return waitMs === null ? new TransientDeliveryError(message, status) : new RetryLaterError(message, waitMs, status);
  }
  if (statusCode === 408) return new TransientDeliveryError(message, status);
  if (statusCode >= 400 && statusCode < 500) return new PermanentDeliveryError(message, status);
  return new TransientDeliveryError(message, status);
}
