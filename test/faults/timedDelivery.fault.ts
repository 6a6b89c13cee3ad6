import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEmail } from '../../workers/roles/email.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { waitUntil } from './harness/processes.ts';
import { publishAll, type EventSpec } from './harness/publish.ts';
import { openFaultWorld, report, settle, sleep, type FaultWorld } from './harness/scenario.ts';
import { spawnWorker, type WorkerProcess } from './harness/workerProcess.ts';

/**
 * Timed delivery under faults (SPEC §4.1): scheduled work lives in Postgres and is only woken
 * through delayed jobs, so a Redis FLUSHALL while fallbacks and digests wait, and a kill -9 of
 * the email worker holding digests that just came due, still make every scheduled send exactly
 * once. The one thing a crash can repeat is an email the relay accepted just before the kill
 * and whose outcome was never recorded: that copy carries the same Message-ID (the delivery's),
 * so it is counted apart — as a resend of the same message, never as a second digest.
 */

const FALLBACK_USERS = Array.from({ length: 10 }, (_, i) => `f${i}`);
const DIGEST_USERS = Array.from({ length: 10 }, (_, i) => `d${i}`);
const KILL_USERS = Array.from({ length: 30 }, (_, i) => `k${i}`);
const address = (userId: string) => `${userId}@acme.example`;

let world: FaultWorld;
let api: ApiClient;
let smtp: SmtpReceiver;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  world = await openFaultWorld({ SMTP_URL: smtp.url, OUTBOX_SWEEP_AFTER_SECONDS: '1' });
  api = apiClient((await world.env.startWeb()).url);
  await seedDirectory(api, 'acme', [...FALLBACK_USERS, ...DIGEST_USERS, ...KILL_USERS]);
  const rules = [
    { eventType: 'fallback.alert', channels: ['inapp'], delivery: { fallback: { channel: 'email', afterSeconds: 8, unless: 'seen' } } },
    { eventType: 'digest.alert', channels: ['email'], delivery: { digest: { windowSeconds: 12 } } },
    { eventType: 'kill.alert', channels: ['email'], delivery: { digest: { windowSeconds: 10 } } },
  ];
  for (const rule of rules) {
    const res = await api.post('/api/v1/rules', { tenantId: 'acme', ...rule });
    if (res.status !== 201) throw new Error(`rule ${rule.eventType}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  await world.env.startRouter();
  await world.env.startInapp();
});

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.kill9()));
  await world?.close();
  await smtp?.close();
});

/** Emails received per Message-ID for these recipients: a resend of one message shares its id. */
function messagesTo(userIds: string[]) {
  const addresses = new Set(userIds.map(address));
  const received = smtp.received.filter((r) => r.to.some((to) => addresses.has(to)));
  const byMessageId = new Map<string, typeof received>();
  for (const r of received) byMessageId.set(r.mail.messageId ?? '', [...(byMessageId.get(r.mail.messageId ?? '') ?? []), r]);
  return { received, byMessageId };
}

const count = async (query: Promise<{ n: number }[]>) => (await query)[0]!.n;

it('Redis flushed while fallbacks and digests are scheduled: each is sent (or skipped) exactly once afterwards', async () => {
  const { env, services } = world;
  await env.startRole(startEmail);
  const fallbacks: EventSpec[] = Array.from({ length: 100 }, (_, i) => ({ id: `fb_${i}`, tenantId: 'acme', type: 'fallback.alert', assigneeUserIds: [FALLBACK_USERS[i % 10]!], data: { title: `fallback ${i}` } }));
  const digested: EventSpec[] = Array.from({ length: 100 }, (_, i) => ({ id: `dg_${i}`, tenantId: 'acme', type: 'digest.alert', assigneeUserIds: [DIGEST_USERS[i % 10]!], data: { title: `digested ${i}` } }));
  await publishAll(api, [...fallbacks, ...digested]);
  await waitUntil(
    async () => (await count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and state = 'scheduled'`)) === 200,
    30_000,
    'every fallback and digest member to be scheduled',
  );
  // Half the people saw their notifications in time: their fallbacks must be skipped.
  const seers = FALLBACK_USERS.slice(0, 5);
  for (const userId of seers) {
    const res = await api.post('/api/v1/notifications/seen', {}, await env.userToken(userId, ['acme']));
    expect(res.body).toEqual({ updated: 10 });
  }
  const windows = await count(env.db.$client`select count(*)::int as n from digests where state = 'open'`);
  const scheduledAtFlush = await count(env.db.$client`select count(*)::int as n from deliveries where state = 'scheduled'`);
  await services.flushRedis();
  const flushedAt = Date.now();

  // The sweeper finds the scheduled sends past their time whose jobs are gone, and wakes them.
  await waitUntil(
    async () => (await count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and state in ('scheduled', 'pending')`)) === 0,
    60_000,
    'every scheduled email to be sent or skipped',
  );
  const recoveredMs = Date.now() - flushedAt;
  await sleep(2_000); // a late duplicate would land now
  const skipped = await count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and state = 'skipped' and last_error like 'the in-app notification was seen at %'`);
  const failed = await count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and state = 'failed'`);

  const fallbackMail = messagesTo(FALLBACK_USERS);
  const fallbackEvents = fallbackMail.received.map((r) => r.mail.headers.get('x-herald-event-id') as string);
  const expectedFallbacks = fallbacks.filter((e) => !seers.includes(e.assigneeUserIds[0]!)).map((e) => e.id);
  const digestMail = messagesTo(DIGEST_USERS);
  const perDigestUser = DIGEST_USERS.map((u) => digestMail.received.filter((r) => r.to.includes(address(u))).length);

  report('timed-redis-flush', {
    scheduled: scheduledAtFlush,
    'open digests at flush': windows,
    'fallback emails': `${fallbackMail.received.length}/${expectedFallbacks.length}`,
    'fallbacks skipped (seen)': skipped,
    'digest emails': `${digestMail.received.length}/${DIGEST_USERS.length}`,
    'sent twice': fallbackMail.received.length - new Set(fallbackEvents).size + digestMail.received.length - digestMail.byMessageId.size,
    failed,
    'recovered in': `${(recoveredMs / 1000).toFixed(1)} s`,
  });
  expect(windows).toBe(DIGEST_USERS.length);
  expect(failed).toBe(0);
  expect(fallbackEvents.sort()).toEqual(expectedFallbacks.sort());
  expect(skipped).toBe(50);
  expect(perDigestUser).toEqual(DIGEST_USERS.map(() => 1));
  expect(digestMail.received.map((r) => r.mail.subject)).toEqual(DIGEST_USERS.map(() => '10 new notifications'));
  expect(await count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and left(event_id, 3) = 'dg_' and state = 'sent'`)).toBe(100);
}, 150_000);

it('kill -9 of the email worker holding digests that just came due: every digest goes out once, as one message', async () => {
  const { env } = world;
  const email = spawnWorker('email', env.config);
  workers.push(email);
  await email.started();
  const events: EventSpec[] = KILL_USERS.flatMap((userId, u) =>
    Array.from({ length: 5 }, (_, i) => ({ id: `kd_${u}_${i}`, tenantId: 'acme', type: 'kill.alert', assigneeUserIds: [userId], data: { title: `kill ${u}.${i}` } })),
  );
  await publishAll(api, events);
  // The windows close together; the worker dies as the first digests reach the relay.
  await waitUntil(() => messagesTo(KILL_USERS).received.length > 0, 60_000, 'the first digest to arrive', 5);
  await email.kill9();
  const atKill = messagesTo(KILL_USERS).received.length;
  const pendingAtKill = await count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and left(event_id, 3) = 'kd_' and carried_by is null and state in ('scheduled', 'pending')`);

  const restarted = spawnWorker('email', env.config);
  workers.push(restarted);
  await restarted.started();
  // A job cut off by the kill is taken over once its lock expires (BullMQ's stalled-job check, about 30 s).
  const unsent = await settle(
    () => count(env.db.$client`select count(*)::int as n from deliveries where channel = 'email' and left(event_id, 3) = 'kd_' and state <> 'sent'`),
    (n) => n === 0,
    100_000,
  );
  await sleep(2_000);
  const { received, byMessageId } = messagesTo(KILL_USERS);
  const perUser = KILL_USERS.map((u) => new Set(received.filter((r) => r.to.includes(address(u))).map((r) => r.mail.messageId)).size);

  report('timed-kill-email', {
    digests: KILL_USERS.length,
    'received at kill': atKill,
    'SMTP sessions cut by the kill': smtp.connectionErrors.length,
    'carriers unsent at kill': pendingAtKill,
    'digests received': `${byMessageId.size}/${KILL_USERS.length}`,
    'resent copies (same Message-ID)': received.length - byMessageId.size,
    'members not sent': unsent,
  });
  expect(unsent).toBe(0);
  expect(perUser, 'distinct digest messages per person').toEqual(KILL_USERS.map(() => 1));
  expect([...byMessageId.values()].map((copies) => copies[0]!.mail.subject)).toEqual(KILL_USERS.map(() => '5 new notifications'));
  // The kill really came while digests were still owed.
  expect(pendingAtKill).toBeGreaterThan(0);
}, 180_000);
