import net from 'node:net';
import nodemailer from 'nodemailer';
import type { StartedRole } from '../child.ts';

type Run = {
  smtpUrl: string;
  count: number;
  concurrency: number;
  maxConnections: number;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
};

/**
 * Email baseline: a raw nodemailer pooled transport, `concurrency` sends in flight over
 * `maxConnections` SMTP connections — Herald's settings — with a message of the same shape.
 * No queue, no database, no templates. Its sockets have TCP_NODELAY, as Herald's do: with
 * Nagle's algorithm on (nodemailer's default) every message waits for a delayed ACK, and the
 * loop would measure that stall instead of the best a raw sender does.
 */
export async function startMailLoop(_config: unknown, _logger: unknown, send: (m: Record<string, unknown>) => void): Promise<StartedRole> {
  let transport: nodemailer.Transporter | undefined;
  return {
    async onMessage(message) {
      if (message.type !== 'run') return;
      const run = message as unknown as Run;
      const relay = new URL(run.smtpUrl);
      const getSocket = (_options: unknown, callback: (err: Error | null, socket?: { connection: net.Socket }) => void) => {
        const socket = net.connect(Number(relay.port), relay.hostname);
        socket.setNoDelay(true);
        socket.once('connect', () => callback(null, { connection: socket }));
        socket.once('error', (err) => callback(err));
      };
      // host/port, not `url`: nodemailer replaces the whole options object with what it parses
      // from `url`, silently dropping pool, maxConnections and every timeout (see the report).
      transport = nodemailer.createTransport({
        host: relay.hostname,
        port: Number(relay.port),
        secure: relay.protocol === 'smtps:',
        pool: true,
        maxConnections: run.maxConnections,
        maxMessages: 100,
        getSocket,
      } as nodemailer.TransportOptions);
      let next = 0;
      let failed = 0;
      const started = performance.now();
      async function worker(): Promise<void> {
        while (next < run.count) {
          const i = next++;
          await transport!
            .sendMail({ from: run.from, to: run.to, subject: `${run.subject} #${i}`, text: run.text, html: run.html })
            .catch(() => failed++);
        }
      }
      await Promise.all(Array.from({ length: run.concurrency }, worker));
      send({ type: 'done', failed, ms: performance.now() - started });
      transport.close();
    },
    async close() {
      transport?.close();
    },
  };
}
