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
  const took: number[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const started = performance.now();
    await send(i);
    took.push(performance.now() - started);
  }
  const fastest = Math.min(...took);

  // With Nagle's algorithm on (nodemailer's own sockets), each message's last small write waits
  // for the relay's delayed ACK: every message takes 40 ms or more. Without it, a message takes
  // a few milliseconds. The fastest of them is what is compared: a busy machine slows many
  // messages, but not every one of them past the delayed ACK.
  expect(fastest, `the fastest of ${MESSAGES} messages took ${fastest.toFixed(1)} ms (total ${Math.round(took.reduce((a, b) => a + b, 0))} ms)`).toBeLessThan(DELAYED_ACK_MS * 0.75);
  expect(smtp.received).toHaveLength(MESSAGES + 5);
  expect(smtp.sessionsOpened()).toBe(1);
});
