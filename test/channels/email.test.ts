import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmail } from '../../workers/roles/email.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let smtp: SmtpReceiver;

// Small breaker and backoff so the failure scenarios finish in seconds.
const BREAKER = { threshold: 3, openMs: 1_500 };

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  env = await createTestEnv({
    SMTP_URL: smtp.url,
    EMAIL_FROM: 'Herald Alerts <alerts@herald.test>',
    EMAIL_CONCURRENCY: '3',
    BREAKER_FAILURES: String(BREAKER.threshold),
    BREAKER_OPEN_MS: String(BREAKER.openMs),
    RETRY_BACKOFF_MS: '100',
  });
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startEmail);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
  await api.put('/api/v1/users/u3', { email: 'u3@acme.example', name: 'Eve\r\nBcc: evil@example.com', tenantIds: ['acme'] });
  await api.put('/api/v1/tenants/acme/branding', {
    companyName: 'Acme Security',
    primaryColor: '#ff6600',
    footerText: 'Acme Corp, 1 Main St',
    replyTo: 'secops@acme.example',
  });
});
afterAll(async () => {
  await env?.cleanup();
  await smtp?.close();
});

async function emailRule(eventType: string, emailRecipients: string[] = []) {
  const res = await api.post('/api/v1/rules', { tenantId: 'acme', eventType, channel: 'email', severityFilter: '', enabled: true, emailRecipients });
  expect(res.status).toBe(201);
}

async function publish(body: Record<string, unknown>): Promise<string> {
  const res = await api.post('/api/v1/events', { tenantId: 'acme', ...body });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

type DeliveryRow = { id: string; destination: string; state: string; attempts: number; last_error: string | null };

async function emailDeliveries(eventId: string): Promise<DeliveryRow[]> {
  return env.db.$client<DeliveryRow[]>`
    select id, destination, state, attempts, last_error from deliveries
    where event_id = ${eventId} and channel = 'email' order by destination`;
}

async function settled(eventId: string, count: number, timeoutMs = 10_000): Promise<DeliveryRow[]> {
  return eventually(async () => {
    const rows = await emailDeliveries(eventId);
    return rows.length === count && rows.every((r) => r.state !== 'pending') ? rows : null;
  }, timeoutMs);
}

/** What the receiver got for one event and address: exactly one, when all went well. */
const emailsFor = (eventId: string, address: string) => smtp.to(address).filter((r) => r.mail.headers.get('x-herald-event-id') === eventId);

async function attemptsOf(deliveryId: string) {
  return env.db.$client<{ attempt: number; outcome: string; status_code: number | null; error: string | null }[]>`
    select attempt, outcome, status_code, error from delivery_attempts where delivery_id = ${deliveryId} order by attempt`;
}

describe('email delivery', () => {
  it('sends one branded email per address, with both parts and traceable headers', async () => {
    await emailRule('finding_created', ['U1@acme.example', 'oncall@acme.example']);
    const id = await publish({
      type: 'finding_created',
      severity: 'high',
      assigneeUserIds: ['u1', 'u2', 'u3'],
      data: { title: 'SQL injection\r\nBcc: evil@example.com', body: 'In /login', url: 'https://app.example/findings/42' },
    });
    const rows = await settled(id, 4);
    expect(rows.map((r) => [r.destination, r.state, r.attempts])).toEqual([
      ['oncall@acme.example', 'sent', 1],
      ['u1@acme.example', 'sent', 1],
      ['u2@acme.example', 'sent', 1],
      ['u3@acme.example', 'sent', 1],
    ]);
    for (const address of ['u1@acme.example', 'u2@acme.example', 'u3@acme.example', 'oncall@acme.example']) expect(emailsFor(id, address), address).toHaveLength(1);
    expect(smtp.received.some((r) => r.to.includes('evil@example.com'))).toBe(false);

    const [u1] = emailsFor(id, 'u1@acme.example');
    const mail = u1!.mail;
    expect(mail.subject).toBe('New high finding: SQL injection Bcc: evil@example.com');
    expect(mail.headers.has('bcc')).toBe(false);
    expect(mail.from?.value[0]).toEqual({ name: 'Herald Alerts', address: 'alerts@herald.test' });
    expect(mail.to && !Array.isArray(mail.to) && mail.to.value[0]).toEqual({ name: 'u1', address: 'u1@acme.example' });
    expect(mail.replyTo?.text).toBe('secops@acme.example');
    expect(mail.html).toContain('#ff6600');
    expect(mail.html).toContain('Acme Corp, 1 Main St');
    expect(mail.html).toContain('href="https://app.example/findings/42"');
    expect(mail.text).toContain('Acme Corp, 1 Main St');
    expect(mail.text).toContain('In /login');
    expect(mail.headers.get('x-herald-event-id')).toBe(id);
    const u1Delivery = rows.find((r) => r.destination === 'u1@acme.example')!;
    expect(mail.headers.get('x-herald-delivery-id')).toBe(u1Delivery.id);
    expect(mail.messageId).toBe(`<herald.delivery.${u1Delivery.id}@herald.test>`);
    expect(mail.references).toBe(`<herald.event.${Buffer.from(id).toString('base64url')}@herald.test>`);

    const [eve] = emailsFor(id, 'u3@acme.example');
    const headerBlock = eve!.raw.split(/\r?\n\r?\n/)[0]!;
    expect(headerBlock).not.toMatch(/^Bcc:/im);
    expect(eve!.mail.to && !Array.isArray(eve!.mail.to) && eve!.mail.to.value[0]?.name).toBe('Eve Bcc: evil@example.com');

    const [attempt] = await attemptsOf(u1Delivery.id);
    expect(attempt).toMatchObject({ attempt: 1, outcome: 'sent', status_code: 250 });
    expect(attempt!.error).toContain(`<herald.delivery.${u1Delivery.id}@herald.test>`);
  });

  it('keeps concurrent sends within the bulkhead, over pooled connections that carry many messages', async () => {
    const recipients = Array.from({ length: 12 }, (_, i) => `bulk${i}@acme.example`);
    await emailRule('bulk_test', recipients);
    smtp.reset();
    const id = await publish({ type: 'bulk_test' });
    await settled(id, 12);
    expect(smtp.maxConcurrentSessions()).toBeLessThanOrEqual(3);
    // Connections are reused: at most one new session per pool slot, not one per message.
    expect(smtp.sessionsOpened()).toBeLessThanOrEqual(3);
  });

  it('renders the new version on the next send, on every worker instance, after an update through the API', async () => {
    // Two email workers, each with its own cache; an event's four emails are spread over both.
    const second = await env.startRole(startEmail);
    const readers = ['r1@acme.example', 'r2@acme.example', 'r3@acme.example'];
    await emailRule('report_ready', readers);
    const subjectsOf = async (eventId: string) => {
      await settled(eventId, 4);
      return [...readers, 'u2@acme.example'].map((address) => emailsFor(eventId, address)[0]!.mail.subject);
    };
    const send = (id: string, title: string) => publish({ id, type: 'report_ready', assigneeUserIds: ['u2'], data: { title } });

    expect(new Set(await subjectsOf(await send('evt_tpl_0', 'Q3')))).toEqual(new Set(['Report ready: Q3']));

    const created = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'report_ready', channel: 'email', subject: 'v1 {{data.title}} for {{#if user.name}}{{user.name}}{{else}}{{user.email}}{{/if}}', html: '<p>v1</p>' });
    const v1 = await subjectsOf(await send('evt_tpl_1', 'Q3'));
    expect(v1).toEqual(['v1 Q3 for r1@acme.example', 'v1 Q3 for r2@acme.example', 'v1 Q3 for r3@acme.example', 'v1 Q3 for u2']);

    await api.post(`/api/v1/templates/${created.body.id}/versions`, { subject: 'v2 {{data.title}}', html: '<p>v2 {{brand.companyName}}</p>' });
    const id = await send('evt_tpl_2', 'Q4');
    expect(new Set(await subjectsOf(id))).toEqual(new Set(['v2 Q4']));
    const [latest] = emailsFor(id, 'u2@acme.example');
    expect(latest!.mail.html).toBe('<p>v2 Acme Security</p>');
    expect(latest!.mail.text).toBe('v2 Acme Security');
    await env.stop(second);
  });
});

describe('relay trouble', () => {
  it('retries a 4xx deferral and delivers once, with every attempt recorded', async () => {
    await emailRule('greylist_test', ['grey@acme.example']);
    smtp.reset();
    smtp.deferNext(2);
    const id = await publish({ type: 'greylist_test' });
    const [row] = await settled(id, 1);
    expect(row).toMatchObject({ state: 'sent', attempts: 3, last_error: null });
    expect(emailsFor(id, 'grey@acme.example')).toHaveLength(1);
    expect(smtp.attempts.filter((a) => a.to === 'grey@acme.example').map((a) => a.code)).toEqual([451, 451, 250]);
    const attempts = await attemptsOf(row!.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.status_code])).toEqual([
      [1, 'error', 451],
      [2, 'error', 451],
      [3, 'sent', 250],
    ]);
    expect(attempts[0]!.error).toContain('try again later');
  });

  it('fails a 5xx refusal at once, after one attempt', async () => {
    await emailRule('bounce_test', ['gone@acme.example']);
    smtp.reject('gone@acme.example');
    const id = await publish({ type: 'bounce_test' });
    const [row] = await settled(id, 1);
    expect(row).toMatchObject({ state: 'failed', attempts: 1 });
    expect(row!.last_error).toContain('550');
    const attempts = await attemptsOf(row!.id);
    expect(attempts.map((a) => [a.outcome, a.status_code])).toEqual([['failed', 550]]);
    smtp.reset();
  });

  it('opens the breaker on a dead relay without burning tries, keeps in-app going, and sends once the relay is back', async () => {
    const recipients = Array.from({ length: 5 }, (_, i) => `outage${i}@acme.example`);
    await emailRule('outage_test', recipients);
    await smtp.stop();

    // u2 hears of it in-app and, by the rule, by email too: six emails in all.
    const id = await publish({ type: 'outage_test', assigneeUserIds: ['u2'], data: { title: 'During the outage' } });
    const u2 = await env.userToken('u2', ['acme']);
    await eventually(async () => (await api.get('/api/v1/notifications', u2)).body.items.some((n: any) => n.eventId === id));

    // The breaker opens after 3 failures; while it is open, jobs wait instead of spending tries.
    await eventually(async () => (await emailDeliveries(id)).reduce((sum, r) => sum + r.attempts, 0) >= BREAKER.threshold);
    await new Promise((r) => setTimeout(r, BREAKER.openMs + 500));
    const during = await emailDeliveries(id);
    expect(during.every((r) => r.state === 'pending')).toBe(true);
    // Without the breaker, six jobs retrying every ~100-400 ms would have spent far more: each
    // job's first try, plus at most a half-open trial or two.
    expect(during).toHaveLength(6);
    expect(during.reduce((sum, r) => sum + r.attempts, 0)).toBeLessThanOrEqual(6 + 2);

    await smtp.start();
    const rows = await settled(id, 6, 15_000);
    expect(rows.every((r) => r.state === 'sent')).toBe(true);
    for (const address of [...recipients, 'u2@acme.example']) expect(emailsFor(id, address), address).toHaveLength(1);
  });
});
