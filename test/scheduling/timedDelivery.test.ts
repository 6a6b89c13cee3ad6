import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeQueues, createQueues, deliveryJobId, type Queues } from '../../src/queues/catalog.ts';
import { quietHoursEnd } from '../../src/scheduling/quietHours.ts';
import { startEmail } from '../../workers/roles/email.ts';
import { apiClient, eventually, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { streamTracker } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * Timed delivery end to end (SPEC §4.1), over HTTP with the router, the in-app and email
 * workers, a real SMTP receiver and real live streams: fallbacks skipped when seen, read or
 * online and sent otherwise, digests that gather concurrent events into exactly one message
 * (split by key, closed early at maxItems), and quiet hours that hold a person's email until
 * their end — at routing time and again when a held send wakes up. Windows are seconds long.
 */
let env: TestEnv;
let api: ApiClient;
let smtp: SmtpReceiver;
let webUrl: string;
let queues: Queues;
const streams = streamTracker();

const PEOPLE = ['ann', 'bea', 'cal', 'dan', 'eli', 'fay', 'gus', 'hal', 'ivy', 'jon'];
const address = (id: string) => `${id}@acme.example`;

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  env = await createTestEnv({ SMTP_URL: smtp.url });
  const web = await env.startWeb();
  webUrl = web.url;
  api = apiClient(web.url);
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startEmail);
  queues = createQueues(env.redis, env.config.REDIS_PREFIX);
  expect((await api.put('/api/v1/tenants/acme', { name: 'Acme' })).status).toBeLessThan(300);
  for (const id of PEOPLE) {
    const res = await api.put(`/api/v1/users/${id}`, { email: address(id), name: id.toUpperCase(), tenantIds: ['acme'] });
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  }
  const rules = [
    { eventType: 'fallback.seen', channels: ['inapp'], delivery: { fallback: { channel: 'email', afterSeconds: 2, unless: 'seen' } } },
    { eventType: 'fallback.read', channels: ['inapp'], delivery: { fallback: { channel: 'email', afterSeconds: 2, unless: 'read' } } },
    { eventType: 'fallback.online', channels: ['inapp'], delivery: { fallback: { channel: 'email', afterSeconds: 1, unless: 'online' } } },
    { eventType: 'digest.*', channels: ['inapp', 'email'], delivery: { digest: { windowSeconds: 10 } } },
    { eventType: 'keyed.*', channels: ['email'], delivery: { digest: { windowSeconds: 10, key: 'order.id' } } },
    { eventType: 'capped.*', channels: ['email'], delivery: { digest: { windowSeconds: 600, maxItems: 3 } } },
    { eventType: 'doomed.*', channels: ['email'], delivery: { digest: { windowSeconds: 600, maxItems: 2 } } },
    { eventType: 'quiet.*', channels: ['inapp', 'email'] },
    { eventType: 'late.*', channels: ['inapp'], delivery: { fallback: { channel: 'email', afterSeconds: 1, unless: 'seen' } } },
  ];
  for (const rule of rules) {
    const res = await api.post('/api/v1/rules', { tenantId: 'acme', ...rule });
    expect(res.status, `${rule.eventType}: ${JSON.stringify(res.body)}`).toBe(201);
  }
}, 30_000);
afterAll(async () => {
  streams.closeAll();
  if (queues) await closeQueues(queues);
  await env?.cleanup();
  await smtp?.close();
});

type TimelineEntry = { id: string; channel: string; destination: string; state: string; lastError: string | null; notBefore: string | null; digestId: string | null; carriedBy: string | null };

async function publish(type: string, userIds: string[], extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api.post('/api/v1/events', { tenantId: 'acme', type, recipientUserIds: userIds, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.id as string;
}

async function timeline(eventId: string): Promise<TimelineEntry[]> {
  const res = await api.get(`/api/v1/events/${eventId}/deliveries`);
  expect(res.status).toBe(200);
  return res.body.items as TimelineEntry[];
}

/** The event's email delivery, once `ready` holds for it. */
async function emailDelivery(eventId: string, ready: (d: TimelineEntry) => boolean, timeoutMs = 10_000): Promise<TimelineEntry> {
  return eventually(async () => {
    const entry = (await timeline(eventId)).find((d) => d.channel === 'email');
    return entry && ready(entry) && entry;
  }, timeoutMs);
}

async function notificationOf(eventId: string, userId: string): Promise<string> {
  const [row] = await eventually(async () => {
    const rows = await env.db.$client<{ id: string }[]>`select id::text from notifications where tenant_id = 'acme' and event_id = ${eventId} and user_id = ${userId}`;
    return rows.length > 0 && rows;
  });
  return row!.id;
}

/**
 * Whether the delivery's wake-up job waits in the email queue. Routing records the row before it
 * enqueues the job, so a row seen as scheduled may be a moment ahead of its job: wait for the job.
 */
async function delayedJobOf(deliveryId: string): Promise<boolean> {
  const job = await eventually(async () => queues.email.getJob(deliveryJobId(deliveryId)));
  return job.isDelayed();
}

const emailsFor = (eventId: string, to: string) => smtp.to(to).filter((r) => r.mail.headers.get('x-herald-event-id') === eventId);

describe('fallback (SPEC §4.1)', () => {
  it('emails the unseen after afterSeconds and skips, with the reason, what was seen in time', async () => {
    const seen = await publish('fallback.seen', ['ann'], { data: { title: 'seen in time' } });
    const unseen = await publish('fallback.seen', ['ann'], { data: { title: 'never looked at' } });
    const scheduled = await emailDelivery(seen, (d) => d.state === 'scheduled');
    expect(scheduled.destination).toBe(address('ann'));
    expect(Date.parse(scheduled.notBefore!)).toBeGreaterThan(Date.now());
    const token = await env.userToken('ann', ['acme']);
    expect((await api.post('/api/v1/notifications/seen', { ids: [await notificationOf(seen, 'ann')] }, token)).body).toEqual({ updated: 1 });

    const skipped = await emailDelivery(seen, (d) => d.state !== 'scheduled');
    expect(skipped.state).toBe('skipped');
    expect(skipped.lastError).toMatch(/^the in-app notification was seen at \d{4}-/);
    expect((await emailDelivery(unseen, (d) => d.state === 'sent')).destination).toBe(address('ann'));
    const [mail, ...more] = await eventually(async () => emailsFor(unseen, address('ann')).length > 0 && emailsFor(unseen, address('ann')));
    expect(more).toEqual([]);
    expect(mail!.mail.subject).toContain('never looked at');
    expect(emailsFor(seen, address('ann'))).toEqual([]);
  });

  it('with unless: read, a seen but unread notification still gets its email; a read one does not', async () => {
    const read = await publish('fallback.read', ['bea'], { data: { title: 'read it' } });
    const onlySeen = await publish('fallback.read', ['bea'], { data: { title: 'only glanced' } });
    const token = await env.userToken('bea', ['acme']);
    await emailDelivery(read, (d) => d.state === 'scheduled');
    expect((await api.post(`/api/v1/notifications/${await notificationOf(read, 'bea')}/read`, undefined, token)).status).toBe(204);
    expect((await api.post('/api/v1/notifications/seen', { ids: [await notificationOf(onlySeen, 'bea')] }, token)).body).toEqual({ updated: 1 });

    const skipped = await emailDelivery(read, (d) => d.state !== 'scheduled');
    expect(skipped).toMatchObject({ state: 'skipped', lastError: expect.stringMatching(/^the in-app notification was read at /) });
    await emailDelivery(onlySeen, (d) => d.state === 'sent');
    expect(emailsFor(onlySeen, address('bea'))).toHaveLength(1);
    expect(emailsFor(read, address('bea'))).toEqual([]);
  });

  it('with unless: online, emails only the person who had no live stream open when the row was written', async () => {
    const stream = streams.open(webUrl, await env.userToken('cal', ['acme']));
    await stream.opened;
    const id = await publish('fallback.online', ['cal', 'dan'], { data: { title: 'deploy finished' } });
    const entries = await eventually(async () => {
      const emails = (await timeline(id)).filter((d) => d.channel === 'email');
      return emails.length === 2 && emails.every((d) => d.state === 'sent' || d.state === 'skipped') && emails;
    });
    const byAddress = Object.fromEntries(entries.map((d) => [d.destination, d]));
    expect(byAddress[address('cal')]).toMatchObject({ state: 'skipped', lastError: 'the person had a live stream open when the notification was written' });
    expect(byAddress[address('dan')]).toMatchObject({ state: 'sent' });
    await stream.waitFor((f) => f.type === 'notification' && f.data.eventId === id);
    expect(emailsFor(id, address('dan'))).toHaveLength(1);
    expect(emailsFor(id, address('cal'))).toEqual([]);
  });
});

describe('digest (SPEC §4.1)', () => {
  it('gathers 50 concurrent events into exactly one email listing them oldest first, and splits windows by key', async () => {
    const started = Date.now();
    const keyed = await Promise.all(['A', 'B', 'A'].map((order, i) => publish('keyed.shipped', ['fay'], { data: { title: `shipment ${i} of order ${order}`, order: { id: order } } })));
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => publish('digest.alert', ['eli'], { data: { title: `alert number ${i}` } })));

    const first = await emailDelivery(ids[0]!, (d) => d.state === 'scheduled');
    expect(first.digestId).not.toBeNull();
    // In-app is never digested: every row is in the inbox before the window closes.
    await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where user_id = 'eli'`)[0]!.n === 50);
    expect(smtp.to(address('eli'))).toEqual([]);

    const mails = await eventually(async () => smtp.to(address('eli')).length > 0 && smtp.to(address('eli')), 20_000);
    // Whatever else happens meanwhile, no second digest goes out for this window.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(smtp.to(address('eli'))).toHaveLength(1);
    const [mail] = mails;
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000);
    expect(mail!.mail.subject).toBe('50 new notifications');
    const text = mail!.mail.text ?? '';
    const order = Array.from({ length: 50 }, (_, i) => text.indexOf(`alert number ${i}\n`));
    expect(order.every((at) => at >= 0)).toBe(true);

    // Every member shows the outcome and the message that carried it; one carrier for them all.
    const members = await Promise.all(ids.map((id) => emailDelivery(id, (d) => d.state === 'sent')));
    const carriers = members.filter((d) => d.carriedBy === null);
    expect(carriers).toHaveLength(1);
    expect(new Set(members.map((d) => d.digestId))).toEqual(new Set([first.digestId]));
    expect(members.filter((d) => d.carriedBy !== null).every((d) => d.carriedBy === carriers[0]!.id)).toBe(true);
    // Oldest first: the order the events were accepted in (those committed together, by when they happened, then id).
    const accepted = await env.db.$client<{ id: string }[]>`select id from events where id = any(${ids}) order by accepted_at, occurred_at, id`;
    const positions = accepted.map(({ id }) => text.indexOf(`alert number ${ids.indexOf(id)}\n`));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));

    // Two windows for the key's two values: order A's two shipments in one email, order B's in another.
    const fayMails = await eventually(async () => smtp.to(address('fay')).length >= 2 && smtp.to(address('fay')), 20_000);
    expect(fayMails).toHaveLength(2);
    const subjects = fayMails.map((m) => m.mail.subject).sort();
    expect(subjects).toEqual(['2 new notifications', 'shipment 1 of order B'].sort());
    const keyedDeliveries = await Promise.all(keyed.map((id) => emailDelivery(id, (d) => d.state === 'sent')));
    expect(keyedDeliveries[0]!.digestId).toBe(keyedDeliveries[2]!.digestId);
    expect(keyedDeliveries[1]!.digestId).not.toBe(keyedDeliveries[0]!.digestId);
  }, 40_000);

  it('closes a window at maxItems and sends it at once; the next event opens a new window', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await publish('capped.item', ['gus'], { data: { title: `item ${i}` } }));
    const mails = await eventually(async () => smtp.to(address('gus')).length > 0 && smtp.to(address('gus')), 10_000);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.mail.subject).toBe('3 new notifications');
    for (const id of ids.slice(0, 3)) await emailDelivery(id, (d) => d.state === 'sent');
    // The fourth waits in its own window, ten minutes long.
    const fourth = await emailDelivery(ids[3]!, (d) => d.state === 'scheduled');
    expect(fourth.carriedBy).toBeNull();
    expect(Date.parse(fourth.notBefore!) - Date.now()).toBeGreaterThan(500_000);
    expect(await delayedJobOf(fourth.id)).toBe(true);
  });

  it('a digest that fails for good fails its members; retrying a member sends the digest again, and all show sent', async () => {
    smtp.reject(address('jon'));
    const ids = [await publish('doomed.notice', ['jon'], { data: { title: 'first' } }), await publish('doomed.notice', ['jon'], { data: { title: 'second' } })];
    const failed = await Promise.all(ids.map((id) => emailDelivery(id, (d) => d.state === 'failed')));
    const member = failed.find((d) => d.carriedBy !== null)!;
    expect(member.lastError).toMatch(/550/);
    smtp.reset();
    const retried = await api.post(`/api/v1/deliveries/${member.id}/retry`);
    expect(retried.status, JSON.stringify(retried.body)).toBe(202);
    await Promise.all(ids.map((id) => emailDelivery(id, (d) => d.state === 'sent')));
    const mails = smtp.to(address('jon'));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.mail.subject).toBe('2 new notifications');
  });

  it('a stored template sees digest.count and digest.events', async () => {
    const res = await api.post('/api/v1/templates', {
      tenantId: 'acme',
      eventType: 'digest.custom',
      channel: 'email',
      subject: 'Digest of {{#if digest}}{{digest.count}}{{else}}one{{/if}}',
      html: '<ul>{{#each digest.events}}<li>{{data.title}}</li>{{/each}}</ul>',
      text: '{{#each digest.events}}{{event.type}}: {{data.title}};{{/each}}',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await Promise.all([0, 1, 2].map((i) => publish('digest.custom', ['hal'], { data: { title: `custom ${i}` } })));
    const [mail] = await eventually(async () => smtp.to(address('hal')).length > 0 && smtp.to(address('hal')), 20_000);
    expect(mail!.mail.subject).toBe('Digest of 3');
    expect(mail!.mail.text?.match(/digest\.custom: custom \d;/g)).toHaveLength(3);
  }, 30_000);
});

describe('quiet hours (SPEC §4.1)', () => {
  /** Quiet hours in UTC from an hour ago to an hour from now, as HH:MM. */
  function aroundNow() {
    const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString().slice(11, 16);
    return { start: at(-3_600_000), end: at(3_600_000) };
  }

  it('holds email as scheduled until the end of quiet hours, with its job delayed; in-app and urgent are not held', async () => {
    const quietHours = aroundNow();
    expect((await api.put('/api/v1/users/ivy', { email: address('ivy'), name: 'IVY', tenantIds: ['acme'], timezone: 'UTC', quietHours })).status).toBeLessThan(300);
    const held = await publish('quiet.report', ['ivy'], { data: { title: 'nightly report' } });
    const urgent = await publish('quiet.outage', ['ivy'], { priority: 'urgent', data: { title: 'site down' } });

    const entry = await emailDelivery(held, (d) => d.state === 'scheduled');
    const expectedEnd = quietHoursEnd(new Date(), 'UTC', quietHours)!;
    expect(Math.abs(Date.parse(entry.notBefore!) - expectedEnd.getTime())).toBeLessThan(60_000);
    expect(await delayedJobOf(entry.id)).toBe(true);
    await notificationOf(held, 'ivy');

    await emailDelivery(urgent, (d) => d.state === 'sent');
    expect(emailsFor(urgent, address('ivy'))).toHaveLength(1);
    expect(emailsFor(held, address('ivy'))).toEqual([]);
  });

  it('a fallback that comes due inside quiet hours begun meanwhile waits to their end', async () => {
    const id = await publish('late.notice', ['ann'], { data: { title: 'late notice' } });
    const scheduled = await emailDelivery(id, (d) => d.state === 'scheduled');
    const quietHours = aroundNow();
    expect((await api.put('/api/v1/users/ann', { email: address('ann'), name: 'ANN', tenantIds: ['acme'], timezone: 'UTC', quietHours })).status).toBeLessThan(300);
    const moved = await emailDelivery(id, (d) => d.notBefore !== scheduled.notBefore, 10_000);
    expect(moved.state).toBe('scheduled');
    expect(Math.abs(Date.parse(moved.notBefore!) - quietHoursEnd(new Date(), 'UTC', quietHours)!.getTime())).toBeLessThan(60_000);
    expect(emailsFor(id, address('ann'))).toEqual([]);
    expect(await delayedJobOf(moved.id)).toBe(true);
  });
});
