import { isBrokenCircuitError, isTaskCancelledError, type BulkheadPolicy } from 'cockatiel';
import { eq } from 'drizzle-orm';
import { connect, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import type { SendMailOptions } from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { users } from '../db/schema.ts';
import { performDelivery, type DeliveryStore, type SendOutcome } from '../deliveries/deliveryLifecycle.ts';
import { DeliveryDeferredError, DeliveryFailure, PermanentDeliveryError, TransientDeliveryError } from '../errors.ts';
import type { BreakerRegistry } from '../outbound/breakers.ts';
import type { PayloadOf } from '../queues/catalog.ts';
import { oneLine, type EmailContent, type TemplateUser } from '../templates/content.ts';
import { TemplateError } from '../templates/handlebars.ts';
import { renderEmail, type TemplateSource } from '../templates/templateRenderer.ts';

export type EmailAddress = { name: string; address: string };

/** What the relay said when it took a message. */
export type SentEmail = { messageId: string; response: string; statusCode: number | null };

/** One pooled SMTP transport to the relay; `relayKey` names the relay for its circuit breaker. */
export type Mailer = {
  from: EmailAddress;
  relayKey: string;
  send(message: SendMailOptions, signal?: AbortSignal): Promise<SentEmail>;
  close(): void;
};

export type MailerOptions = {
  smtpUrl: string;
  from: string;
  /** Open SMTP connections at most; matches the send bulkhead so a waiting send never waits twice. */
  maxConnections: number;
  /** Connect, greeting and per-command socket timeouts; kept under the job timeout so the relay's error is what gets recorded. */
  socketTimeoutMs?: number;
};

const addressSchema = z.email().max(320);

/** A valid address, or null. Names and addresses never reach a header unchecked. */
export function validAddress(raw: string): string | null {
  const parsed = addressSchema.safeParse(raw.trim());
  return parsed.success ? parsed.data : null;
}

/** Parses `Name <address>` or a bare address, as EMAIL_FROM may be written. */
export function parseMailbox(raw: string): EmailAddress | null {
  const [first] = addressparser(raw, { flatten: true });
  const address = first?.address ? validAddress(first.address) : null;
  return address ? { name: displayName(first?.name ?? ''), address } : null;
}

/** A display name safe for a header: one line, no quotes or angle brackets to confuse a parser. */
export function displayName(raw: string): string {
  return oneLine(raw).replace(/["<>\\]/g, '').slice(0, 100);
}

export function createMailer(options: MailerOptions): Mailer {
  const from = parseMailbox(options.from);
  if (!from) throw new Error(`EMAIL_FROM is not a valid address: ${options.from}`);
  const url = new URL(options.smtpUrl);
  const timeout = options.socketTimeoutMs ?? 20_000;
  const secure = url.protocol === 'smtps:';
  const port = Number(url.port) || (secure ? 465 : 25);
  // Host, port and credentials are taken from the URL here: given `url`, nodemailer replaces the
  // whole options object with what it parses from it, silently dropping the pool and timeouts.
  const transport = nodemailer.createTransport({
    host: url.hostname,
    port,
    secure,
    ...(url.username && { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }),
    pool: true,
    maxConnections: options.maxConnections,
    maxMessages: 100,
    connectionTimeout: Math.min(timeout, 10_000),
    greetingTimeout: Math.min(timeout, 10_000),
    socketTimeout: timeout,
    getSocket: connectWithoutDelay(url.hostname, port),
  });
  return {
    from,
    relayKey: `${url.hostname}:${port}`,
    async send(message, signal) {
      const info = await abortable(transport.sendMail(message), signal);
      const response = String(info.response ?? '');
      return { messageId: info.messageId, response, statusCode: Number(/^\d{3}/.exec(response)?.[0]) || null };
    },
    close: () => transport.close(),
  };
}

/**
 * Opens each pooled SMTP connection with TCP_NODELAY and hands it to nodemailer at once, still
 * connecting: nodemailer then speaks SMTP over it as over its own socket — implicit TLS or
 * STARTTLS, greeting and socket timeouts, and a refused or dropped connection reported as its
 * own error, so the pool drops that connection and the send fails as a retryable one.
 * nodemailer's own sockets keep Nagle's algorithm on, and the small last write of each command
 * then waits for the relay's delayed ACK (about 40 ms): that held a pooled connection to some
 * twenty messages a second.
 */
function connectWithoutDelay(host: string, port: number) {
  return (_options: unknown, callback: (err: Error | null, socketOptions: { connection: Socket }) => void): void =>
    callback(null, { connection: connect({ host, port, noDelay: true, keepAlive: true }) });
}

/** nodemailer cannot cancel a send; the job stops waiting for it (and records why) when its time is up. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPROTOCOL', 'ETLS', 'ECLOSED']);

/**
 * Whether an SMTP failure is worth retrying. A 5xx reply is final (unknown mailbox, refused
 * address) and a 4xx reply is the relay asking to come back later (greylisting, rate limits).
 * Connection trouble, timeouts and authentication failures are the relay's problem, not the
 * message's: they retry, and the breaker stops them from costing every job a try.
 */
export function classifySmtpError(err: unknown): DeliveryFailure {
  if (err instanceof DeliveryFailure) return err;
  const e = err as { code?: string; responseCode?: number; message?: string };
  const message = oneLine(String(e.message ?? err)).slice(0, 500);
  const status = typeof e.responseCode === 'number' ? e.responseCode : null;
  // The attempt log keeps the reply code beside the error.
  const reply = { statusCode: status };
  if (e.code === 'EAUTH') return new TransientDeliveryError(`SMTP relay refused the credentials: ${message}`, reply);
  if (status !== null && status >= 500) return new PermanentDeliveryError(`SMTP relay refused the message: ${message}`, reply);
  if (status !== null && status >= 400) return new TransientDeliveryError(`SMTP relay deferred the message: ${message}`, reply);
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') return new PermanentDeliveryError(`message could not be sent: ${message}`, reply);
  if (e.code && TRANSIENT_CODES.has(e.code)) return new TransientDeliveryError(`SMTP relay unreachable: ${message}`, reply);
  return new TransientDeliveryError(`SMTP send failed: ${message}`, reply);
}

/** Message-ids are `<local@domain>`; event ids may hold any character, so they travel base64url-encoded. */
const eventRef = (eventId: string, domain: string) => `<herald.event.${Buffer.from(eventId).toString('base64url')}@${domain}>`;

export type ComposeInput = {
  from: EmailAddress;
  to: EmailAddress;
  replyTo: string | null;
  content: EmailContent;
  eventId: string;
  tenantId: string;
  /** The delivery id makes the Message-ID stable across retries, so a resent copy can be recognised as the same message. */
  deliveryId?: string;
  headers?: Record<string, string>;
};

/**
 * The message as nodemailer takes it. Every header value is collapsed to one line and every
 * address validated, so no event field, name or subject can add a header. The event id travels
 * in `X-Herald-Event-Id` and, encoded, in `References`, so replies and bounces (which quote
 * both) lead back to the event.
 */
export function composeEmail(input: ComposeInput): SendMailOptions {
  const domain = input.from.address.split('@')[1]!;
  const replyTo = input.replyTo ? validAddress(input.replyTo) : null;
  const headers: Record<string, string> = {
    'X-Herald-Event-Id': oneLine(input.eventId),
    ...(input.tenantId && { 'X-Herald-Tenant-Id': oneLine(input.tenantId) }),
    // RFC 3834: out-of-office robots should not answer a notification.
    'Auto-Submitted': 'auto-generated',
    ...(input.deliveryId && { 'X-Herald-Delivery-Id': input.deliveryId }),
  };
  for (const [name, value] of Object.entries(input.headers ?? {})) headers[name] = oneLine(value);
  return {
    from: { name: displayName(input.from.name), address: input.from.address },
    to: { name: displayName(input.to.name), address: input.to.address },
    ...(replyTo && { replyTo }),
    subject: oneLine(input.content.subject),
    html: input.content.html,
    text: input.content.text,
    ...(input.deliveryId && { messageId: `<herald.delivery.${input.deliveryId}@${domain}>` }),
    references: eventRef(input.eventId, domain),
    headers,
  };
}

export type EmailDeps = {
  db: Db;
  deliveries: DeliveryStore;
  templates: TemplateSource;
  mailer: Mailer;
  breakers: BreakerRegistry;
  /** Bounds concurrent SMTP sends in this process. */
  bulkhead: BulkheadPolicy;
};

/**
 * Sends one stored email delivery (SPEC §4). While the relay's breaker is open the job is put
 * back until it may close, without spending a try or recording an attempt.
 */
export async function deliverEmail(payload: PayloadOf<'email'>, deps: EmailDeps, signal?: AbortSignal): Promise<SendOutcome | null> {
  const until = deps.breakers.openUntil(deps.mailer.relayKey);
  if (until !== null) throw circuitOpen(deps.mailer.relayKey, until);

  return performDelivery(deps.deliveries, payload.deliveryId, async ({ delivery, event }) => {
    const address = validAddress(delivery.destination);
    if (!address) throw new PermanentDeliveryError(`invalid email address: ${oneLine(delivery.destination).slice(0, 100)}`);
    // A rule's static recipient is no user, but templates can still greet the address.
    const user = (delivery.userId ? await recipientOf(deps.db, delivery.userId) : null) ?? { id: null, name: null, email: address };
    const { content, replyTo } = await renderEmail(deps.templates, event, user).catch((err: unknown) => {
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
    const sent = await sendThroughRelay(deps, message, signal);
    return { state: 'sent', statusCode: sent.statusCode ?? undefined, detail: `message-id ${sent.messageId}; relay: ${oneLine(sent.response).slice(0, 300)}` };
  });
}

function circuitOpen(relayKey: string, until: number): DeliveryDeferredError {
  return new DeliveryDeferredError(`SMTP relay ${relayKey}`, until);
}

async function recipientOf(db: Db, userId: string): Promise<TemplateUser | null> {
  const [row] = await db.select({ id: users.id, name: users.name, email: users.email }).from(users).where(eq(users.id, userId));
  return row ?? null;
}

/**
 * One send through the bulkhead and the relay's breaker. A permanent refusal is the relay
 * working as it should, so it is handed past the breaker as a value rather than counted as a
 * relay failure; only transient trouble opens the circuit.
 */
export async function sendThroughRelay(deps: Pick<EmailDeps, 'mailer' | 'breakers' | 'bulkhead'>, message: SendMailOptions, signal?: AbortSignal): Promise<SentEmail> {
  const { mailer } = deps;
  const breaker = deps.breakers.forDestination(mailer.relayKey);
  let result: { sent: SentEmail } | { refused: DeliveryFailure };
  try {
    result = await deps.bulkhead.execute(
      () =>
        breaker.execute(async () => {
          try {
            return { sent: await mailer.send(message, signal) };
          } catch (err) {
            const failure = classifySmtpError(err);
            if (failure instanceof PermanentDeliveryError) return { refused: failure };
            throw failure;
          }
        }, signal),
      signal,
    );
  } catch (err) {
    if (isBrokenCircuitError(err)) throw circuitOpen(mailer.relayKey, deps.breakers.openUntil(mailer.relayKey) ?? Date.now() + 1_000);
    if (isTaskCancelledError(err)) throw new TransientDeliveryError('timed out waiting for a free SMTP connection');
    throw err;
  }
  if ('refused' in result) throw result.refused;
  return result.sent;
}
