import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export type ReceivedEmail = {
  /** The SMTP envelope: MAIL FROM and RCPT TO, lower-cased. */
  from: string;
  to: string[];
  mail: ParsedMail;
  raw: string;
};

export type SmtpReceiver = {
  port: number;
  /** For `createTestEnv({ SMTP_URL: receiver.url })`. */
  url: string;
  received: ReceivedEmail[];
  /** Every RCPT TO answered, accepted or not, in order: what the sender tried. */
  attempts: { to: string; code: number }[];
  /** Answer the next `count` recipients with a 4xx (default 451, "try again later"), then accept again. */
  deferNext(count: number, code?: number): void;
  /** Answer this address with a 5xx (default 550, unknown mailbox) until `reset()`. */
  reject(address: string, code?: number): void;
  reset(): void;
  /** The most SMTP sessions open at once since the start (or the last reset). */
  maxConcurrentSessions(): number;
  /** SMTP sessions opened since the start (or the last reset): fewer than messages when the sender pools. */
  sessionsOpened(): number;
  /** Emails received for an address. */
  to(address: string): ReceivedEmail[];
  /** Codes of sessions that broke (a client reset mid-session), in order. */
  connectionErrors: string[];
  /** Stops listening (a dead relay): new connections are refused, open ones are dropped. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
};

/**
 * A real SMTP server on loopback for tests and the bench: it stores what it accepts, parsed
 * with mailparser, and can be told to defer (4xx) or refuse (5xx) recipients, or go away and
 * come back on the same port.
 */
export async function startSmtpReceiver(options: { port?: number } = {}): Promise<SmtpReceiver> {
  const received: ReceivedEmail[] = [];
  const attempts: { to: string; code: number }[] = [];
  const rejected = new Map<string, number>();
  let deferred = { count: 0, code: 451 };
  let open = 0;
  let maxOpen = 0;
  let opened = 0;
  let server: SMTPServer | null = null;
  let port = options.port ?? 0;
  const connectionErrors: string[] = [];

  const refuse = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

  function createServer(): SMTPServer {
    return new SMTPServer({
      // Plain SMTP on loopback: no STARTTLS for the client to try, no AUTH to demand.
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      logger: false,
      closeTimeout: 50,
      onConnect(_session, callback) {
        open += 1;
        opened += 1;
        maxOpen = Math.max(maxOpen, open);
        callback();
      },
      onClose() {
        open -= 1;
      },
      onRcptTo(address, _session, callback) {
        const to = address.address.toLowerCase();
        const code = rejected.get(to) ?? (deferred.count > 0 ? deferred.code : 250);
        attempts.push({ to, code });
        if (code >= 500) return callback(refuse(code, `5.1.1 <${to}>: mailbox unavailable`));
        if (code >= 400) {
          deferred.count -= 1;
          return callback(refuse(code, '4.7.1 try again later'));
        }
        callback();
      },
      onData(stream, session: SMTPServerSession, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          simpleParser(raw)
            .then((mail) => {
              const from = session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : '';
              received.push({ from, to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()), mail, raw });
              callback();
            })
            .catch((err: Error) => callback(err));
        });
      },
    });
  }

  async function start(): Promise<void> {
    const next = createServer();
    // A client that dies mid-session (a worker killed -9) resets its connection; smtp-server
    // reports that as an 'error' event, which a real relay logs and survives. Unheard, Node
    // would turn it into an uncaught exception in the test process.
    next.on('error', (err: NodeJS.ErrnoException) => connectionErrors.push(err.code ?? err.message));
    await new Promise<void>((resolve, reject) => {
      next.server.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
    });
    port = (next.server.address() as AddressInfo).port;
    server = next;
  }

  async function stop(): Promise<void> {
    const current = server;
    server = null;
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
  }

  await start();
  return {
    get port() {
      return port;
    },
    get url() {
      return `smtp://127.0.0.1:${port}`;
    },
    received,
    attempts,
    deferNext(count, code = 451) {
      deferred = { count, code };
    },
    reject(address, code = 550) {
      rejected.set(address.toLowerCase(), code);
    },
    reset() {
      rejected.clear();
      deferred = { count: 0, code: 451 };
      maxOpen = open;
      opened = 0;
    },
    maxConcurrentSessions: () => maxOpen,
    sessionsOpened: () => opened,
    to: (address) => received.filter((r) => r.to.includes(address.toLowerCase())),
    connectionErrors,
    stop,
    start,
    close: stop,
  };
}
