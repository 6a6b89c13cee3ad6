import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platformPack } from '../../src/rules/packs/platform.ts';
import type { ServiceDelivered } from '../../src/rules/packs/platformOrders.ts';
import { humanize } from '../../src/templates/defaultContent.ts';
import { startEmail } from '../../workers/roles/email.ts';
import { apiClient, eventually, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { timelineOf } from '../helpers/timeline.ts';

let env: TestEnv;
let api: ApiClient;
let smtp: SmtpReceiver;

const { sampleData } = platformPack;
const EVENT_TYPES = Object.keys(sampleData);
/** Who gets what (SPEC §3.2): admins hear of these events in-app, at priority high for failures and rollbacks. */
const ADMIN_ALERTS: Record<string, 'normal' | 'high'> = {
  'order.created': 'normal',
  'order.failed': 'high',
  'provisioning.started': 'normal',
  'provisioning.step-completed': 'normal',
  'provisioning.completed': 'normal',
  'provisioning.failed': 'high',
  'provisioning.rolled-back': 'high',
};
const CUSTOMER_EMAIL = 'dana@customer.example';

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  env = await createTestEnv({ SMTP_URL: smtp.url, EMAIL_FROM: 'Acme Cloud <noreply@acme.test>' });
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startEmail);

  const put = async (path: string, body: unknown) => {
    const res = await api.put(path, body);
    if (res.status >= 300) throw new Error(`PUT ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  };
  await put('/api/v1/tenants/acme', { name: 'Acme Cloud' });
  await put('/api/v1/tenants/globex', { name: 'Globex' });
  await put('/api/v1/tenants/acme/branding', { companyName: 'Acme Cloud', primaryColor: '#0a7d4f', footerText: 'Acme Cloud GmbH, Hafenstraße 1, Hamburg' });
  await put('/api/v1/users/customer', { email: CUSTOMER_EMAIL, name: 'Dana Whitfield', tenantIds: ['acme'] });
  await put('/api/v1/users/admin', { email: 'ops@acme.example', name: 'Olu Admin', tenantIds: ['acme'], roles: { acme: ['admin'] } });
  // Neither is an admin of acme: one holds another role there, the other is an admin elsewhere.
  await put('/api/v1/users/support', { email: 'support@acme.example', name: 'Sam Support', tenantIds: ['acme'], roles: { acme: ['support'] } });
  await put('/api/v1/users/other-admin', { email: 'admin@globex.example', name: 'Gus Globex', tenantIds: ['acme', 'globex'], roles: { globex: ['admin'] } });
});
afterAll(async () => {
  await env?.cleanup();
  await smtp?.close();
});

type Delivery = { channel: string; destination: string; state: string; priority: string };
type InboxRow = { user_id: string; title: string; body: string; url: string | null; priority: string };

/** Every delivery of the event once none is pending, and its inbox rows. */
async function outcome(eventId: string) {
  const deliveries = await eventually(async () => {
    const rows: Delivery[] = (await timelineOf(env.db, 'acme', eventId)).map(({ channel, destination, state, priority }) => ({ channel, destination, state, priority }));
    return rows.length > 0 && rows.every((d) => d.state !== 'pending') && rows;
  }, 20_000);
  const inbox = await env.db.$client<InboxRow[]>`
    select user_id, title, body, url, priority from notifications where tenant_id = 'acme' and event_id = ${eventId} order by user_id`;
  return { deliveries, inbox };
}

async function publish(type: string, data: Record<string, unknown> = sampleData[type]!): Promise<string> {
  const res = await api.post('/api/v1/events', { tenantId: 'acme', type, recipientUserIds: ['customer'], data });
  expect(res.status, `${type}: ${JSON.stringify(res.body)}`).toBe(202);
  return res.body.id as string;
}

/** The one email an event sent to an address, once it arrived. */
async function emailOf(eventId: string, address: string) {
  const [mail, ...more] = await eventually(async () => {
    const found = smtp.to(address).filter((r) => r.mail.headers.get('x-herald-event-id') === eventId);
    return found.length > 0 && found;
  });
  expect(more, `${eventId}: one email to ${address}`).toEqual([]);
  return mail!.mail;
}

describe('the platform pack, installed over HTTP', () => {
  it('installs its rules and email templates once; a second install adds nothing', async () => {
    expect((await api.get('/api/v1/rule-packs')).body.items.map((p: { id: string }) => p.id)).toContain('platform');

    const first = await api.post('/api/v1/tenants/acme/rule-packs/platform', {});
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ installed: platformPack.rules.length, skipped: 0 });
    const second = await api.post('/api/v1/tenants/acme/rule-packs/platform', {});
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ installed: 0, skipped: platformPack.rules.length });

    const rules = (await api.get('/api/v1/rules?tenantId=acme')).body.items as { eventType: string; channels: string[] }[];
    expect(rules).toHaveLength(platformPack.rules.length);
    const templates = (await api.get('/api/v1/templates?channel=email')).body.items as { tenantId: string | null; eventType: string }[];
    expect(templates.filter((t) => t.tenantId === null).map((t) => t.eventType).sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('confirms every event to the customer in-app and by email, and alerts admins in-app to orders, progress and failures only', async () => {
    const ids = new Map<string, string>();
    for (const type of EVENT_TYPES) ids.set(type, await publish(type));

    for (const [type, id] of ids) {
      const { deliveries, inbox } = await outcome(id);
      const adminPriority = ADMIN_ALERTS[type];
      expect(deliveries.map((d) => `${d.channel}:${d.destination}:${d.state}:${d.priority}`), type).toEqual([
        `email:${CUSTOMER_EMAIL}:sent:normal`,
        ...(adminPriority ? [`inapp:admin:sent:${adminPriority}`] : []),
        'inapp:customer:sent:normal',
      ]);
      expect(inbox.map((n) => [n.user_id, n.priority]), type).toEqual([...(adminPriority ? [['admin', adminPriority]] : []), ['customer', 'normal']]);
      // Every row carries the pack's text, not the built-in fallback (the event type in words) or an unrendered tag.
      for (const row of inbox) {
        expect(row.title, type).not.toBe(humanize(type));
        expect(row.body, type).not.toBe('');
        expect(`${row.title} ${row.body}`, type).not.toContain('{{');
        expect(row.url, type).toMatch(/^https:\/\/portal\.example\.com\//);
      }
      const mail = await emailOf(id, CUSTOMER_EMAIL);
      expect(mail.html, type).toContain('Hello Dana Whitfield,');
      expect(mail.html, type).toContain('#0a7d4f');
      expect(mail.text, type).toContain('Acme Cloud GmbH, Hafenstraße 1, Hamburg');
    }

    // What some of them say, as the customer and the admin see it.
    const rowsOf = async (type: string) => (await outcome(ids.get(type)!)).inbox;
    const [adminOrder, customerOrder] = await rowsOf('order.created');
    expect(customerOrder).toMatchObject({ title: 'Order ORD-1042 received', url: 'https://portal.example.com/orders/ORD-1042' });
    expect(adminOrder).toMatchObject({
      title: 'New order ORD-1042 from Dana Whitfield',
      body: '1 × VPS Standard (2 vCPU, 4 GB RAM) at 24.00 EUR\n1 × Daily backups at 4.80 EUR\n2 × Additional IPv4 address at 2.50 EUR\nTotal: 33.80 EUR',
    });
    const [adminStep, customerStep] = await rowsOf('provisioning.step-completed');
    expect(adminStep!.title).toBe('Step 2/4: Configuring…');
    expect(customerStep!.title).toBe('VPS Standard (2 vCPU, 4 GB RAM) — Step 2/4: Configuring…');
    const [adminFailure] = await rowsOf('provisioning.failed');
    expect(adminFailure).toMatchObject({
      title: 'Provisioning failed: VPS Standard (2 vCPU, 4 GB RAM)',
      body: 'Error: Volume attach timed out after 300 s\nOrder: ORD-1042\nAt step 3/4: Attaching storage\nAffected resources: vm-7f3a (compute, eu-central-1), vol-19c2 (block storage, 40 GB)',
      priority: 'high',
    });
    const [adminRollback] = await rowsOf('provisioning.rolled-back');
    expect(adminRollback).toMatchObject({ title: 'Provisioning rolled back: VPS Standard (2 vCPU, 4 GB RAM)', priority: 'high' });
    expect(adminRollback!.body).toContain('Affected resources: vm-7f3a (compute, eu-central-1): deleted, vol-19c2 (block storage, 40 GB): released');
    expect((await rowsOf('order.failed'))[0]).toMatchObject({ user_id: 'admin', title: 'Order failed: ORD-1043', priority: 'high' });

    // Nobody else heard of anything: not another role, not an admin of another tenant, and admins got no email.
    const others = await env.db.$client`select user_id from notifications where user_id in ('support', 'other-admin')`;
    expect(others).toEqual([]);
    expect(smtp.received.flatMap((r) => r.to).filter((to) => to !== CUSTOMER_EMAIL)).toEqual([]);

    expect((await emailOf(ids.get('billing.invoice-generated')!, CUSTOMER_EMAIL)).subject).toBe('Invoice INV-2026-0042 for 33.80 EUR');
    expect((await emailOf(ids.get('support.ticket-created')!, CUSTOMER_EMAIL)).subject).toBe('[SUP-3391] We received your request: Cannot reach my VPS over SSH');
    const welcome = await emailOf(ids.get('identity.user-created')!, CUSTOMER_EMAIL);
    expect(welcome.subject).toBe('Your Acme Cloud account is ready');
    expect(welcome.text).toContain('Choose your password: https://portal.example.com/account/set-password?token=3f9c1e0b7d');
  });

  it('mails the delivered service’s access details', async () => {
    const data = sampleData['order.service-delivered'] as ServiceDelivered;
    const mail = await emailOf(await publish('order.service-delivered'), CUSTOMER_EMAIL);
    expect(mail.subject).toBe('VPS Standard (2 vCPU, 4 GB RAM) is ready: your access details');
    expect(mail.from?.value[0]).toEqual({ name: 'Acme Cloud', address: 'noreply@acme.test' });
    const html = mail.html as string;
    for (const expected of [`>${data.hostname}<`, `>${data.ipAddress}<`, `>${data.sshCommand}</code>`, `href="${data.endpoints.http}"`, `href="${data.endpoints.https}"`, `href="${data.dashboardUrl}"`]) {
      expect(html).toContain(expected);
    }
    for (const recommendation of data.securityRecommendations) {
      expect(html).toContain(`<li>${recommendation}</li>`);
      expect(mail.text).toContain(`- ${recommendation}`);
    }
    expect(mail.text).toContain(`Hostname: ${data.hostname}\nIP address: ${data.ipAddress}\nSSH: ${data.sshCommand}\nHTTP: ${data.endpoints.http}\nHTTPS: ${data.endpoints.https}`);
    expect(mail.text).toContain(`Open the dashboard: ${data.dashboardUrl}`);
  });

  it('delivers hostile data as text: no markup, no javascript: link', async () => {
    const data = {
      ...sampleData['order.service-delivered'],
      hostname: '<img src=x onerror=alert(1)>',
      endpoints: { http: 'javascript:alert(1)', https: 'https://vps-1042.cloud.example.com/' },
      dashboardUrl: 'javascript:alert(2)',
    };
    const id = await publish('order.service-delivered', data);
    const mail = await emailOf(id, CUSTOMER_EMAIL);
    expect(mail.html).not.toContain('<img src=x');
    expect(mail.html).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
    expect(`${mail.html}\n${mail.text}`).not.toContain('javascript:');
    const { inbox } = await outcome(id);
    expect(inbox).toMatchObject([{ user_id: 'customer', title: 'VPS Standard (2 vCPU, 4 GB RAM) is ready', url: null }]);
  });

  it('lets a tenant override a pack template, and an operator replace the global default', async () => {
    const tenantOwn = await api.post('/api/v1/templates', {
      tenantId: 'acme',
      eventType: 'order.created',
      channel: 'email',
      subject: 'Acme order {{data.orderId}}: {{data.total}} {{data.currency}}',
      html: '<p>{{#each data.items}}{{quantity}} × {{name}}; {{/each}}</p>',
    });
    expect(tenantOwn.status).toBe(201);
    expect((await emailOf(await publish('order.created'), CUSTOMER_EMAIL)).subject).toBe('Acme order ORD-1042: 33.80 EUR');

    const templates = (await api.get('/api/v1/templates?channel=email&eventType=billing.payment-received')).body.items as { id: string; tenantId: string | null }[];
    const global = templates.find((t) => t.tenantId === null)!;
    const pack = platformPack.emailTemplates.find((t) => t.eventType === 'billing.payment-received')!;
    const version = await api.post(`/api/v1/templates/${global.id}/versions`, { ...pack, eventType: undefined, subject: 'Paid, with thanks: {{data.amount}} {{data.currency}}' });
    expect(version.status).toBe(201);
    expect(version.body.version).toBe(2);
    expect((await emailOf(await publish('billing.payment-received'), CUSTOMER_EMAIL)).subject).toBe('Paid, with thanks: 33.80 EUR');
  });
});
