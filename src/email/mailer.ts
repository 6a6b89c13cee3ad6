import { connect, type Socket } from 'node:net';
import nodemailer from 'nodemailer';
import type { SendMailOptions } from 'nodemailer';
import { DeliveryFailure, PermanentDeliveryError, TransientDeliveryError } from '../errors.ts';
import { oneLine } from '../templates/content.ts';
import { parseMailbox, type EmailAddress } from './composeEmail.ts';

/** What the relay said when it took a message. */
export type SentEmail = { messageId: string; response: string; statusCode: number | null };

/** One pooled SMTP transport to the relay; `relayKey` names the relay for its circuit breaker. */
export type Mailer = {
  from: EmailAddress;
  relayKey: string;
  /** Hands one message to the relay; a failure is thrown as the DeliveryFailure it means (see classifySmtpError). */
  send(message: SendMailOptions, signal?: AbortSignal): Promise<SentEmail>;
  close(): void;
};

export type MailerOptions = {
  smtpUrl: string;
  from: string;
  /** Open SMTP connections at most; matches the send bulkhead so a waiting send never waits twice. */
  maxConnections: number;
  /** Connect, greeting and per-command socket timeouts; kept under the job timeout so the relay's error is what gets recorded. */
  socketTimeoutMs: number;
};

export function createMailer(options: MailerOptions): Mailer {
  const from = parseMailbox(options.from);
  if (!from) throw new Error(`EMAIL_FROM is not a valid address: ${options.from}`);
  const url = new URL(options.smtpUrl);
  const timeout = options.socketTimeoutMs;
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
      const info = await abortable(transport.sendMail(message), signal).catch((err: unknown) => {
        throw classifySmtpError(err);
      });
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

