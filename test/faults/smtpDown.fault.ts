import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmail } from '../../workers/roles/email.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { publishAll, type EventSpec } from './harness/publish.ts';
import { checkInbox, countCopies, openFaultWorld, report, settle, sleep, tallyCopies, untilNonePending, type FaultWorld } from './harness/scenario.ts';

/**
 * The SMTP relay goes away for a while: the relay's breaker opens (jobs wait instead of
 * burning their tries), in-app keeps flowing, and every email goes out once the relay is back.
 */

const EVENTS = 60;
const USERS = Array.from({ length: 10 }, (_, i) => `u${i}`);
// SPEC's breaker is 5 failures → open 60 s; a shorter open time keeps the scenario in seconds.
const BREAKER = { threshold: 5, openMs: 2_000 };
const OUTAGE_MS = 8_000;

let world: FaultWorld;
let api: ApiClient;
let smtp: SmtpReceiver;

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  world = await openFaultWorld({
    SMTP_URL: smtp.url,
    OUTBOX_SWEEP_AFTER_SECONDS: '2',
    BREAKER_FAILURES: String(BREAKER.threshold),
    BREAKER_OPEN_MS: String(BREAKER.openMs),
    RETRY_BACKOFF_MS: '200',
    SMTP_TIMEOUT_MS: '2000',
  });
  api = apiClient((await world.env.startWeb()).url);
  await seedDirectory(api, 'acme', USERS);
  const rule = await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'sla_breached', channel: 'email', severityFilter: '', enabled: true, emailRecipients: [] });
  if (rule.status !== 201) throw new Error(`email rule: ${rule.status} ${JSON.stringify(rule.body)}`);
  await world.env.startRouter();
  await world.env.startInapp();
  await world.env.startRole(startEmail);
});

afterAll(async () => {
  await world?.close();
  await smtp?.close();
});

it('SMTP relay down: the breaker opens, in-app keeps flowing, every email goes out after the relay returns', async () => {
  const { env } = world;
  const events: EventSpec[] = Array.from({ length: EVENTS }, (_, i) => ({
    id: `smtp_${i}`,
    tenantId: 'acme',
    type: 'sla_breached',
    severity: 'high',
    assigneeUserIds: [USERS[i % 10]!, USERS[(i + 5) % 10]!],
    data: { title: `SLA ${i}` },
  }));
  const pairs = events.flatMap((e) => e.assigneeUserIds.map((userId) => ({ eventId: e.id, userId })));
  const emailKey = (eventId: string, address: string) => `${eventId}\u0000${address}`;
  const expectedEmails = pairs.map((p) => emailKey(p.eventId, `${p.userId}@acme.example`));

  await smtp.stop();
  const downAt = Date.now();
  await publishAll(api, events, 20);

  // In-app does not wait for the relay.
  const inbox = await settle(() => checkInbox(env, pairs), (c) => c.lost === 0, 30_000);
  const inappMs = Date.now() - downAt;
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
  const [during] = await env.db.$client`select
    (select count(*)::int from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.channel = 'email') as tries,
    (select count(*)::int from deliveries where channel = 'email' and state = 'failed') as failed,
    (select count(*)::int from deliveries where channel = 'email') as emails`;

  await smtp.start();
  const backAt = Date.now();
  const receivedKeys = () => smtp.received.flatMap((r) => r.to.map((to) => emailKey(String(r.mail.headers.get('x-herald-event-id')), to)));
  const received = await settle(async () => new Set(receivedKeys()), (got) => expectedEmails.every((k) => got.has(k)), 60_000);
  const sentMs = Date.now() - backAt;
  const emailsLost = expectedEmails.filter((k) => !received.has(k)).length;
  // Once no email delivery is pending, none can be sent again: the count per (event, address) is final.
  await untilNonePending(env, 'email', 30_000);
  const emails = tallyCopies(expectedEmails, countCopies(receivedKeys()));
  const [after] = await env.db.$client`select count(*)::int as failed from deliveries where channel = 'email' and state = 'failed'`;

  report('smtp-down', {
    emails: `${during!.emails} (${EVENTS} events)`,
    'in-app while relay down': `${inbox.delivered}/${inbox.expected} in ${(inappMs / 1000).toFixed(1)} s`,
    'tries spent while down': `${during!.tries} (breaker ${BREAKER.threshold} failures, open ${BREAKER.openMs} ms, ${OUTAGE_MS / 1000} s outage)`,
    'emails sent after relay returned': `${received.size}/${expectedEmails.length} in ${(sentMs / 1000).toFixed(1)} s`,
    lost: inbox.lost + emailsLost,
    'emails sent twice': emails.repeated,
    failed: after!.failed,
  });
  expect(inbox.lostSample, 'in-app rows missing while the relay was down').toEqual([]);
  expect(during!.emails).toBe(expectedEmails.length);
  // Without the breaker every job would spend a try per backoff step (200 ms doubling) for the whole
  // outage; with it, the first failures open it and then only a half-open trial per open period tries.
  expect(during!.tries, 'tries spent on a dead relay').toBeLessThanOrEqual(BREAKER.threshold + 5 + Math.ceil(OUTAGE_MS / BREAKER.openMs) + 2);
  expect(during!.failed, 'emails failed for good during the outage').toBe(0);
  expect(emailsLost, 'emails never sent').toBe(0);
  expect(emails, 'emails per (event, address)').toMatchObject({ lost: 0, repeated: 0, unexpected: 0 });
  expect(after!.failed).toBe(0);
}, 150_000);
