/** An error that an HTTP caller can act on: rendered as `{"error": {"code", "message", "details"}}`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, details: unknown[] = []) =>
  new HttpError(400, 'invalid_request', message, details);
export const unauthorized = (message = 'missing or invalid credentials') =>
  new HttpError(401, 'unauthorized', message);
export const forbidden = (message = 'not allowed for this tenant') => new HttpError(403, 'forbidden', message);
export const notFound = (what = 'resource') => new HttpError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);

/**
 * A delivery that must not be retried (refused URL, invalid address, a 4xx that will not change).
 * Channel workers throw it; the runner turns it into BullMQ's UnrecoverableError.
 */
export class PermanentDeliveryError extends Error {}

/** A transient failure that asks for a specific wait before the next try (429/503 Retry-After). */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/** True for errors meaning "the database could not be reached", answered as 503. */
export function isDatabaseUnavailable(err: unknown): boolean {
  return isConnectionFailure(driverErrorCode(err));
}

/** The driver's error code (`23505`, `ECONNREFUSED` …): Drizzle wraps the driver's error, so it sits on a cause. */
export function driverErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Postgres unique_violation. */
export const isUniqueViolation = (err: unknown): boolean => driverErrorCode(err) === '23505';

function isConnectionFailure(code: string | undefined): boolean {
  return (
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'CONNECT_TIMEOUT' ||
    code === 'CONNECTION_CLOSED' ||
    code === 'CONNECTION_ENDED' ||
    code === 'CONNECTION_DESTROYED' ||
    code === '57P01' || // admin_shutdown
    code === '57P03' // cannot_connect_now
  );
}

/**
 * The innermost message of an error chain. Drizzle's wrapper message repeats the query with
 * its parameters (user data); logs and delivery records want only the cause.
 */
export function rootCauseMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | null;
  for (let depth = 0; e?.cause && depth < 5; depth++) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
