import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMailer, type Mailer } from '../../src/email/mailer.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';

/** Linux holds back a delayed ACK for at least 40 ms. */
const DELAYED_ACK_MS = 40;
const MESSAGES = 40;

let smtp: SmtpReceiver;
let mailer: Mailer;

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  mailer = createMailer({ smtpUrl: smtp.url, from: 'Herald <alerts@herald.test>', maxConnections: 1, socketTimeoutMs: 20_000 });
});
afterAll(async () => {
  mailer?.close();
  await smtp?.close();
});

it('sends back-to-back messages on a pooled connection without waiting for delayed ACKs (TCP_NODELAY)', async () => {
  const send = (i: number) =>
    mailer.send({ from: 'alerts@herald.test', to: 'ops@acme.example', subject: `Scan ${i} finished`, text: 'Three findings.\n'.repeat(60), html: '<p>Three findings.</p>\n'.repeat(60) });
  // The connection open and the code paths warm, so what is timed is the steady state.
  for (let i = 0; i < 5; i++) await send(i);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) await send(i);
  const ms = performance.now() - started;

  // With Nagle's algorithm on (nodemailer's own sockets), each message's last small write waits
  // for the relay's delayed ACK: 40 ms or more a message, 1.6 s or more for these. Without it,
  // a message takes a few milliseconds; the bound leaves room for a busy machine.
  expect(ms, `${MESSAGES} messages took ${Math.round(ms)} ms`).toBeLessThan(MESSAGES * DELAYED_ACK_MS * 0.75);
  expect(smtp.received).toHaveLength(MESSAGES + 5);
  expect(smtp.sessionsOpened()).toBe(1);
});
