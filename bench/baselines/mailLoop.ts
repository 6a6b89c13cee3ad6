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
 * No queue, no database, no templates.
 */
export async function startMailLoop(_config: unknown, _logger: unknown, send: (m: Record<string, unknown>) => void): Promise<StartedRole> {
  let transport: nodemailer.Transporter | undefined;
  return {
    async onMessage(message) {
      if (message.type !== 'run') return;
      const run = message as unknown as Run;
      transport = nodemailer.createTransport({ url: run.smtpUrl, pool: true, maxConnections: run.maxConnections, maxMessages: 100 });
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
    },
    async close() {
      transport?.close();
    },
  };
}
