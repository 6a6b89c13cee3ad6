import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let smtp: SmtpReceiver;

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  env = await createTestEnv({ SMTP_URL: smtp.url, EMAIL_FROM: 'Herald <notify@herald.test>' });
  api = apiClient((await env.startWeb()).url);
  await api.put('/api/v1/tenants/acme', { name: 'Acme' });
  await api.put('/api/v1/tenants/globex', { name: 'Globex' });
});
afterAll(async () => {
  await env?.cleanup();
  await smtp?.close();
});

const emailTemplate = { eventType: 'finding_created', channel: 'email', subject: 'Finding: {{data.title}}', html: '<p>{{data.title}} for {{brand.companyName}}</p>', text: '{{data.title}}' };

describe('templates', () => {
  it('creates version 1, refuses a second for the slot (409), and versions it', async () => {
    const created = await api.post('/api/v1/templates', { tenantId: 'acme', ...emailTemplate });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), version: 1, active: true, tenantId: 'acme', ...emailTemplate, createdAt: expect.any(String), updatedAt: expect.any(String) });
    expect(created.body).not.toHaveProperty('title');

    const again = await api.post('/api/v1/templates', { tenantId: 'acme', ...emailTemplate });
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain(`/api/v1/templates/${created.body.id}/versions`);

    const v2 = await api.post(`/api/v1/templates/${created.body.id}/versions`, { subject: 'v2 {{data.title}}', html: '<p>v2</p>' });
    expect(v2.status).toBe(201);
    expect(v2.body).toMatchObject({ id: created.body.id, version: 2, active: true, subject: 'v2 {{data.title}}' });
    const v3 = await api.post(`/api/v1/templates/${created.body.id}/versions`, { ...emailTemplate, tenantId: 'acme', subject: 'v3' });
    expect(v3.body.version).toBe(3);

    const versions = await api.get(`/api/v1/templates/${created.body.id}/versions`);
    expect(versions.body.items.map((v: any) => [v.version, v.active])).toEqual([[3, true], [2, false], [1, false]]);
    expect((await api.get(`/api/v1/templates/${created.body.id}`)).body).toMatchObject({ version: 3, subject: 'v3' });

    const moved = await api.post(`/api/v1/templates/${created.body.id}/versions`, { channel: 'inapp', title: 'x' });
    expect(moved.status).toBe(400);
  });

  it('validates fields per channel and names the line of a syntax error', async () => {
    const wrongKind = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'x', channel: 'inapp', title: 'ok', html: '<p>' });
    expect(wrongKind.status).toBe(400);
    expect(wrongKind.body.error.details).toEqual([expect.objectContaining({ field: 'html' })]);
    expect((await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'x', channel: 'email', html: '<p>' })).body.error.details[0].field).toBe('subject');
    expect((await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'x', channel: 'webhook', title: 'x' })).status).toBe(400);

    const broken = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'x', channel: 'email', subject: 's', html: '<p>\n{{#if data.title}}\n{{data.title}\n' });
    expect(broken.status).toBe(400);
    expect(broken.body.error.details[0]).toMatchObject({ field: 'html', line: 3 });
    expect(broken.body.error.message).toContain('line 3');
    expect((await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'x', channel: 'email', subject: 's', html: '{{> header}}' })).status).toBe(400);
  });

  it('keeps global templates to all-tenant credentials and tenants to their own', async () => {
    const global = { tenantId: null, eventType: 'scan_completed', channel: 'inapp', title: 'Scan: {{data.title}}', body: '{{data.body}}' };
    expect((await api.post('/api/v1/templates', global, ACME_KEY)).status).toBe(403);
    const created = await api.post('/api/v1/templates', global);
    expect(created.status).toBe(201);
    expect((await api.post(`/api/v1/templates/${created.body.id}/versions`, { title: 'x' }, ACME_KEY)).status).toBe(403);
    expect((await api.post('/api/v1/templates', { ...global, tenantId: 'globex' }, ACME_KEY)).status).toBe(403);
    expect((await api.post('/api/v1/templates', { ...global, tenantId: 'nope' })).status).toBe(422);

    const globexOnly = await api.post('/api/v1/templates', { ...global, tenantId: 'globex' });
    expect((await api.get(`/api/v1/templates/${globexOnly.body.id}`, ACME_KEY)).status).toBe(404);
    const listed = await api.get('/api/v1/templates', ACME_KEY);
    expect(listed.body.items.map((t: any) => t.tenantId)).not.toContain('globex');
    expect(listed.body.items.map((t: any) => t.tenantId)).toEqual(expect.arrayContaining([null, 'acme']));
    expect((await api.get('/api/v1/templates?tenantId=globex', ACME_KEY)).status).toBe(403);
    const inapp = await api.get('/api/v1/templates?channel=inapp&tenantId=globex');
    expect(inapp.body.items.map((t: any) => [t.tenantId, t.channel])).toEqual([[null, 'inapp'], ['globex', 'inapp']]);
  });
});

describe('preview', () => {
  it('renders the template that applies with sample data and the tenant’s branding', async () => {
    await api.put('/api/v1/tenants/globex/branding', { companyName: 'Globex Corp', primaryColor: '#00aa00' });
    const preview = await api.post('/api/v1/templates/preview', { tenantId: 'globex', eventType: 'sla_breached', channel: 'email' });
    expect(preview.status).toBe(200);
    expect(Object.keys(preview.body).sort()).toEqual(['html', 'subject', 'text']);
    expect(preview.body.subject).toBe('SLA breached: SQL injection in /login');
    expect(preview.body.html).toContain('#00aa00');
    expect(preview.body.text).toContain('Globex Corp');

    const tenantOverride = await api.post('/api/v1/templates/preview', { tenantId: 'acme', eventType: 'finding_created', channel: 'email', data: { title: 'Given' } });
    expect(tenantOverride.body.subject).toBe('v3');
    const message = await api.post('/api/v1/templates/preview', { tenantId: 'acme', eventType: 'scan_completed', channel: 'inapp', data: { title: 'Nightly', body: '3 new' } });
    expect(message.body).toEqual({ title: 'Scan: Nightly', body: '3 new' });
  });

  it('tries an unsaved template and answers 400 with the line of a syntax error', async () => {
    const ok = await api.post('/api/v1/templates/preview', {
      tenantId: 'acme',
      eventType: 'custom_thing',
      channel: 'email',
      data: { who: '<b>Sam</b>' },
      template: { subject: 'Hi {{data.who}}', html: '<p>Hi {{data.who}} from {{brand.companyName}}</p>' },
    });
    expect(ok.body).toEqual({ subject: 'Hi <b>Sam</b>', html: '<p>Hi &lt;b&gt;Sam&lt;/b&gt; from Acme</p>', text: 'Hi <b>Sam</b> from Acme' });

    const bad = await api.post('/api/v1/templates/preview', {
      tenantId: 'acme',
      eventType: 'x',
      channel: 'email',
      template: { subject: 'ok', html: '<p>\n<b>\n{{#each data.items}}\n</b>' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0]).toMatchObject({ field: 'template.html', line: 4 });
    expect((await api.post('/api/v1/templates/preview', { tenantId: 'globex', eventType: 'x', channel: 'email' }, ACME_KEY)).status).toBe(403);
  });
});

describe('test-send', () => {
  it('sends the template over SMTP with the tenant’s branding and answers 202', async () => {
    await api.put('/api/v1/tenants/acme/branding', { replyTo: 'security@acme.example', companyName: 'Acme Security' });
    const template = (await api.get('/api/v1/templates?tenantId=acme&channel=email')).body.items.find((t: any) => t.tenantId === 'acme');
    const sent = await api.post(`/api/v1/templates/${template.id}/test-send`, { to: 'Tester@Example.com', data: { title: 'Try me' } });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ to: 'Tester@Example.com', messageId: expect.any(String) });
    const [email] = await eventually(async () => (smtp.to('tester@example.com').length > 0 ? smtp.to('tester@example.com') : null));
    expect(email!.mail.subject).toBe('v3');
    expect(email!.mail.replyTo?.text).toBe('security@acme.example');
    expect(email!.mail.headers.get('x-herald-test')).toBe('true');
    expect(email!.mail.from?.value[0]?.address).toBe('notify@herald.test');

    expect((await api.post(`/api/v1/templates/${template.id}/test-send`, { to: 'not an address' })).status).toBe(400);
    const inapp = (await api.get('/api/v1/templates?channel=inapp')).body.items[0];
    expect((await api.post(`/api/v1/templates/${inapp.id}/test-send`, { to: 'a@example.com' })).status).toBe(400);
  });

  it('reports a relay that refuses the address (422) or is away (502)', async () => {
    const template = (await api.get('/api/v1/templates?tenantId=acme&channel=email')).body.items.find((t: any) => t.tenantId === 'acme');
    smtp.reject('nobody@example.com');
    const refused = await api.post(`/api/v1/templates/${template.id}/test-send`, { to: 'nobody@example.com' });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain('550');
    smtp.reset();

    await smtp.stop();
    const away = await api.post(`/api/v1/templates/${template.id}/test-send`, { to: 'a@example.com' });
    expect(away.status).toBe(502);
    expect(away.body.error.code).toBe('smtp_unavailable');
    await smtp.start();
    expect((await api.post(`/api/v1/templates/${template.id}/test-send`, { to: 'a@example.com' })).status).toBe(202);
  });
});
