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
 * Why one try of a delivery failed. The class says whether and when to try again (the worker
 * runner reads it); `statusCode` is what the far side answered (an HTTP or SMTP reply code), or
 * null when it never answered, and goes to the attempt log.
 */
export abstract class DeliveryFailure extends Error {
  readonly statusCode: number | null;

  constructor(message: string, options: { statusCode?: number | null } = {}) {
    super(message);
    this.statusCode = options.statusCode ?? null;
  }
}

/**
 * A delivery that must not be retried (refused URL, invalid address, a 4xx that will not change).
 * The runner turns it into BullMQ's UnrecoverableError.
 */
export class PermanentDeliveryError extends DeliveryFailure {}

/**
 * A failure worth retrying with the queue's normal backoff: timeouts, refused or reset
 * connections, 5xx, 408, and 429/503 without a usable Retry-After.
 */
export class TransientDeliveryError extends DeliveryFailure {}

/** A transient failure that asks for a specific wait before the next try (429/503 Retry-After). */
export class RetryLaterError extends DeliveryFailure {
  constructor(
    message: string,
    readonly retryAfterMs: number,
    options: { statusCode?: number | null } = {},
  ) {
    super(message, options);
  }
}

/**
 * Not a try at all: the destination's circuit is open until `until` (epoch ms), so the send was
 * never made. The job waits until then and no attempt is recorded, so a dead destination does
 * not use up the tries of every delivery queued behind it.
 */
export class DeliveryDeferredError extends RetryLaterError {
  constructor(
    readonly destination: string,
    readonly until: number,
  ) {
    super(`circuit open for ${destination}; next try after ${new Date(until).toISOString()}`, Math.max(1_000, until - Date.now()));
  }
}

/**
 * Not a try either: a scheduled delivery (SPEC §4.1) whose time has not come — its job woke
 * early, or the person's quiet hours began meanwhile. The job waits until `until`.
 */
export class NotYetDueError extends RetryLaterError {
  constructor(readonly until: Date) {
    super(`scheduled for ${until.toISOString()}`, Math.max(0, until.getTime() - Date.now()));
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
 * The innermost message of an error chain, safe to log and to store on a delivery: Drizzle's
 * wrapper message repeats the query with its parameters, which may be webhook secrets or chat
 * URLs (SPEC §7.1), so only the cause is kept, with any parameter it quotes redacted.
 */
export function rootCauseMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | null;
  for (let depth = 0; e?.cause && depth < 5; depth++) e = e.cause as typeof e;
  return redactParameters(e?.message ?? String(err), queryParameters(err));
}

const REDACTED = '[redacted]';
// Shorter parameters (ids, channel names, flags, numbers) are no secret, and replacing them would
// mangle the SQL and names around them (`webhook` in `webhook_url`). Secrets and URLs are longer.
const MIN_REDACTED_LENGTH = 10;

/**
 * The values a failed query was sent with, anywhere in the chain: Drizzle keeps them on its
 * wrapper (`params`), postgres.js on its own error (`parameters`, not enumerable). The strings
 * inside a JSON parameter count too, since Postgres may quote a piece of one.
 */
function queryParameters(err: unknown): string[] {
  const values = new Set<string>();
  const add = (value: unknown, depth = 0): void => {
    if (depth > 8 || value === null || value === undefined) return;
    if (Array.isArray(value)) return value.forEach((v) => add(v, depth + 1));
    if (typeof value === 'object') return Object.values(value).forEach((v) => add(v, depth + 1));
    const text = String(value);
    if (text.length < MIN_REDACTED_LENGTH) return;
    values.add(text);
    if (/^[[{]/.test(text)) {
      try {
        add(JSON.parse(text), depth + 1);
      } catch {
        // not JSON after all
      }
    }
  };
  for (let e = err as { params?: unknown; parameters?: unknown; cause?: unknown } | null, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    add(e.params);
    add(e.parameters);
  }
  // Longest first, so a value containing a shorter one is replaced whole.
  return [...values].sort((a, b) => b.length - a.length);
}

function redactParameters(text: string, parameters: string[]): string {
  // Drizzle's wrapper lists them after the query; Postgres quotes one when it cannot convert it.
  let redacted = text.replace(/\nparams: [\s\S]*$/, '');
  for (const value of parameters) redacted = redacted.split(value).join(REDACTED);
  return redacted;
}

/** What of a driver error is worth logging: the SQLSTATE and where it happened, never the row (`detail`) or context (`where`). */
const LOGGED_FIELDS = ['code', 'statusCode', 'severity', 'schema_name', 'table_name', 'column_name', 'constraint_name', 'routine'] as const;

/**
 * An error as a log line may show it (the logger's `err` serializer): type, message and stack
 * frames with every query parameter redacted, the driver's diagnostic fields, and its cause the
 * same way. Postgres' `detail` ("Failing row contains (…)", "Key (…)=(…)") is left out: it
 * repeats the values of the row.
 */
export function loggableError(err: unknown, parameters: string[] = queryParameters(err), depth = 0): unknown {
  if (!(err instanceof Error)) return err;
  const message = redactParameters(err.message, parameters);
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  const fields = Object.fromEntries(LOGGED_FIELDS.flatMap((name) => (name in err ? [[name, (err as unknown as Record<string, unknown>)[name]]] : [])));
  const cause = (err as { cause?: unknown }).cause;
  return {
    type: err.constructor?.name ?? err.name,
    message,
    stack: [`${err.name}: ${message}`, ...frames].join('\n'),
    ...fields,
    ...(cause !== undefined && depth < 5 ? { cause: loggableError(cause, parameters, depth + 1) } : {}),
  };
}
