import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', []);
  await seedDirectory(api, 'globex', []);
});
afterAll(() => env?.cleanup());

const HOOK = 'https://hooks.example.com/herald';
let typeCounter = 0;
/** Each test gets its own event type, so the uniqueness of rules never couples two tests. */
const freshType = () => `type_${++typeCounter}`;

const emailRule = (over: Record<string, unknown> = {}) => ({ tenantId: 'acme', eventType: freshType(), channel: 'email', severityFilter: '', ...over });
const webhookRule = (over: Record<string, unknown> = {}) => ({ tenantId: 'acme', eventType: freshType(), channel: 'webhook', webhookUrl: HOOK, ...over });

async function create(body: object, token?: string) {
  const res = await api.post('/api/v1/rules', body, token);
  if (res.status !== 201) throw new Error(`create rule: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

describe('POST /api/v1/rules', () => {
  it('creates an email rule with a normalized filter and addresses, and echoes it', async () => {
    const body = emailRule({ severityFilter: ' High ', emailRecipients: ['Ops@Acme.example', 'ops@acme.example', ' sec@acme.example'] });
    const res = await api.post('/api/v1/rules', body);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tenantId: 'acme',
      eventType: body.eventType,
      channel: 'email',
      severityFilter: 'high',
      enabled: true,
      emailRecipients: ['ops@acme.example', 'sec@acme.example'],
      webhookUrl: null,
      // What v2 adds to a v1 rule: the channel set, the event's own recipients, no priority, content or timed delivery.
      channels: ['email'],
      recipients: { kind: 'event' },
      priority: null,
      content: null,
      delivery: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
  });

  it('gives a webhook rule a whsec_ secret on create and never shows it again', async () => {
    const created = await create(webhookRule());
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const [stored] = await env.db.$client`select secret from rules where id = ${created.id}`;
    expect(stored!.secret).toBe(created.secret);

    const fetched = await api.get(`/api/v1/rules/${created.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).not.toHaveProperty('secret');
    const listed = await api.get(`/api/v1/rules?tenantId=acme&eventType=${created.eventType}`);
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).not.toHaveProperty('secret');
    const patched = await api.patch(`/api/v1/rules/${created.id}`, { enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.body).not.toHaveProperty('secret');
    expect(JSON.stringify([fetched.body, listed.body, patched.body])).not.toContain(created.secret);
  });

  it.each([
    ['a webhook rule without a URL', webhookRule({ webhookUrl: undefined }), 'webhookUrl'],
    ['an http webhook URL', webhookRule({ webhookUrl: 'http://hooks.example.com/x' }), 'webhookUrl'],
    ['a loopback webhook URL', webhookRule({ webhookUrl: 'https://127.0.0.1/x' }), 'webhookUrl'],
    ['a private webhook URL', webhookRule({ webhookUrl: 'https://10.1.2.3/x' }), 'webhookUrl'],
    ['a link-local webhook URL', webhookRule({ webhookUrl: 'https://169.254.169.254/latest' }), 'webhookUrl'],
    ['a webhook URL on an email rule', emailRule({ webhookUrl: HOOK }), 'webhookUrl'],
    ['static addresses on a webhook rule', webhookRule({ emailRecipients: ['a@b.example'] }), 'emailRecipients'],
    ['an unknown severity filter', emailRule({ severityFilter: 'severe' }), 'severityFilter'],
    ['an unknown channel', emailRule({ channel: 'sms' }), 'channel'],
    ['a bad address', emailRule({ emailRecipients: ['not-an-address'] }), 'emailRecipients.0'],
    ['a missing event type', emailRule({ eventType: undefined }), 'eventType'],
    ['a non-boolean enabled', emailRule({ enabled: 'yes' }), 'enabled'],
  ])('answers 400 naming the field for %s', async (_name, body, field) => {
    const res = await api.post('/api/v1/rules', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(res.body.error.message).toContain(field);
  });

  it('answers 409 for the same tenant, type, channel and normalized filter', async () => {
    const first = await create(emailRule({ severityFilter: 'high' }));
    const dup = await api.post('/api/v1/rules', emailRule({ eventType: first.eventType, severityFilter: ' HIGH', emailRecipients: ['x@acme.example'] }));
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('conflict');
    // Another filter, channel or tenant is another rule.
    expect((await api.post('/api/v1/rules', emailRule({ eventType: first.eventType, severityFilter: 'critical' }))).status).toBe(201);
    expect((await api.post('/api/v1/rules', webhookRule({ eventType: first.eventType, severityFilter: 'high' }))).status).toBe(201);
    expect((await api.post('/api/v1/rules', emailRule({ tenantId: 'globex', eventType: first.eventType, severityFilter: 'high' }))).status).toBe(201);
  });

  it('answers one 201 and 409s to concurrent duplicate creates', async () => {
    const body = emailRule({ severityFilter: 'medium' });
    const results = await Promise.all(Array.from({ length: 6 }, () => api.post('/api/v1/rules', body)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const [row] = await env.db.$client`select count(*)::int as n from rules where event_type = ${body.eventType}`;
    expect(row!.n).toBe(1);
  });

  it('answers 422 unknown_tenant for a tenant not in the directory', async () => {
    const res = await api.post('/api/v1/rules', emailRule({ tenantId: 'initech' }));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('unknown_tenant');
  });
});

describe('rules auth and tenant scope', () => {
  it('answers 401 without credentials and 403 to a user token without admin', async () => {
    expect((await api.get('/api/v1/rules', null)).status).toBe(401);
    const userToken = await env.userToken('u1', ['acme']);
    expect((await api.get('/api/v1/rules', userToken)).status).toBe(403);
    expect((await api.post('/api/v1/rules', emailRule(), userToken)).status).toBe(403);
  });

  it('lets an admin token manage its own tenants only', async () => {
    const adminToken = await env.userToken('a1', ['acme'], 'admin');
    expect((await api.post('/api/v1/rules', emailRule(), adminToken)).status).toBe(201);
    expect((await api.post('/api/v1/rules', emailRule({ tenantId: 'globex' }), adminToken)).status).toBe(403);
  });

  it('keeps a tenant-scoped key to its tenant: 403 to create or list elsewhere, 404 for another tenant’s rule', async () => {
    const theirs = await create(emailRule({ tenantId: 'globex' }));
    const ours = await create(emailRule(), ACME_KEY);
    expect((await api.post('/api/v1/rules', emailRule({ tenantId: 'globex' }), ACME_KEY)).status).toBe(403);
    expect((await api.get('/api/v1/rules?tenantId=globex', ACME_KEY)).status).toBe(403);

    const listed = await api.get('/api/v1/rules?limit=1000', ACME_KEY);
    expect(listed.status).toBe(200);
    const ids = listed.body.items.map((r: { id: string }) => r.id);
    expect(ids).toContain(ours.id);
    expect(listed.body.items.every((r: { tenantId: string }) => r.tenantId === 'acme')).toBe(true);

    expect((await api.get(`/api/v1/rules/${theirs.id}`, ACME_KEY)).status).toBe(404);
    expect((await api.patch(`/api/v1/rules/${theirs.id}`, { enabled: false }, ACME_KEY)).status).toBe(404);
    expect((await api.delete(`/api/v1/rules/${theirs.id}`, ACME_KEY)).status).toBe(404);
    expect((await api.get(`/api/v1/rules/${theirs.id}`)).status).toBe(200);

    const globexOnly = await api.get('/api/v1/rules?tenantId=globex&limit=1000');
    expect(globexOnly.body.items.map((r: { id: string }) => r.id)).toContain(theirs.id);
    expect(globexOnly.body.items.every((r: { tenantId: string }) => r.tenantId === 'globex')).toBe(true);
  });

  it('answers 404 for an id that is not a rule’s', async () => {
    expect((await api.get('/api/v1/rules/not-a-uuid')).status).toBe(404);
    expect((await api.get('/api/v1/rules/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

describe('PATCH and DELETE /api/v1/rules/:id', () => {
  it('changes the given fields only and bumps updatedAt', async () => {
    const created = await create(emailRule({ emailRecipients: ['ops@acme.example'] }));
    const res = await api.patch(`/api/v1/rules/${created.id}`, { severityFilter: 'Critical', enabled: false });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: created.id, severityFilter: 'critical', enabled: false, emailRecipients: ['ops@acme.example'], createdAt: created.createdAt });
    expect(new Date(res.body.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(created.updatedAt).getTime());
    expect((await api.get(`/api/v1/rules/${created.id}`)).body).toEqual(res.body);
  });

  it('answers 409 when the change would duplicate another rule', async () => {
    const high = await create(emailRule({ severityFilter: 'high' }));
    const low = await create(emailRule({ eventType: high.eventType, severityFilter: 'low' }));
    const res = await api.patch(`/api/v1/rules/${low.id}`, { severityFilter: 'high' });
    expect(res.status).toBe(409);
    expect((await api.get(`/api/v1/rules/${low.id}`)).body.severityFilter).toBe('low');
  });

  it.each([
    ['a new channel', { channel: 'email' }, 'channel'],
    ['a new tenant', { tenantId: 'globex' }, 'tenantId'],
    ['clearing the URL', { webhookUrl: null }, 'webhookUrl'],
    ['an unsafe URL', { webhookUrl: 'https://192.168.0.1/' }, 'webhookUrl'],
    ['a bad filter', { severityFilter: 'meh' }, 'severityFilter'],
  ])('answers 400 naming the field for %s on a webhook rule', async (_name, patch, field) => {
    const created = await create(webhookRule());
    const res = await api.patch(`/api/v1/rules/${created.id}`, patch);
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('accepts the unchanged tenant and channel and a new safe URL', async () => {
    const created = await create(webhookRule());
    const res = await api.patch(`/api/v1/rules/${created.id}`, { tenantId: 'acme', channel: 'webhook', webhookUrl: 'https://other.example.com/in' });
    expect(res.status).toBe(200);
    expect(res.body.webhookUrl).toBe('https://other.example.com/in');
  });

  it('deletes a rule: 204, then 404', async () => {
    const created = await create(emailRule());
    expect((await api.delete(`/api/v1/rules/${created.id}`)).status).toBe(204);
    expect((await api.get(`/api/v1/rules/${created.id}`)).status).toBe(404);
    expect((await api.delete(`/api/v1/rules/${created.id}`)).status).toBe(404);
  });
});
