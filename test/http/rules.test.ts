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

describe('rules v2 (SPEC §3.1)', () => {
  const v2Rule = (over: Record<string, unknown> = {}): Record<string, unknown> & { eventType: string } => ({ tenantId: 'acme', eventType: `${freshType()}.*`, channels: ['inapp', 'push'], ...over });

  it('stores a pattern, a channel set (sorted, distinct), recipients, priority, content and timed delivery, and echoes them', async () => {
    const body = v2Rule({
      channels: ['push', 'inapp', 'email', 'push'],
      recipients: { kind: 'users', userIds: ['bob', 'ann', 'bob'] },
      priority: 'high',
      content: { title: '{{event.type}} on {{data.host}}', body: '{{data.message}}', url: '{{data.url}}' },
      delivery: { fallback: { channel: 'email', afterSeconds: 300, unless: 'read' }, digest: { windowSeconds: 600, key: 'order.id' } },
    });
    const created = await create(body);
    expect(created).toMatchObject({
      eventType: body.eventType,
      channel: 'email',
      channels: ['email', 'inapp', 'push'],
      recipients: { kind: 'users', userIds: ['ann', 'bob'] },
      priority: 'high',
      content: body.content,
      delivery: { fallback: { channel: 'email', afterSeconds: 300, unless: 'read' }, digest: { windowSeconds: 600, key: 'order.id', maxItems: 100 } },
    });
    expect((await api.get(`/api/v1/rules/${created.id}`)).body).toEqual(created);
    const listed = await api.get('/api/v1/rules?tenantId=acme&channel=push');
    expect(listed.body.items.map((r: { id: string }) => r.id)).toContain(created.id);
  });

  it.each([
    ['*', 'every event'],
    ['*.failed', 'every failure'],
    ['provisioning.*', 'a domain'],
    ['order:created-v2_x', 'every allowed character'],
  ])('accepts the pattern %s (%s)', async (eventType) => {
    const res = await api.post('/api/v1/rules', v2Rule({ eventType, recipients: { kind: 'role', role: `r_${freshType()}` } }));
    expect(res.status).toBe(201);
  });

  it.each([
    ['a pattern with a space', { eventType: 'order created' }, 'eventType'],
    ['a pattern with a slash', { eventType: 'order/created' }, 'eventType'],
    ['a pattern with a question mark', { eventType: 'order.?' }, 'eventType'],
    ['an empty channel list', { channels: [] }, 'channels'],
    ['an unknown channel in the set', { channels: ['inapp', 'sms'] }, 'channels.1'],
    ['both channel and channels', { channel: 'email' }, 'channel'],
    ['an unknown resolver kind', { recipients: { kind: 'everyone' } }, 'recipients.kind'],
    ['a users resolver without users', { recipients: { kind: 'users', userIds: [] } }, 'recipients.userIds'],
    ['a role resolver without a role', { recipients: { kind: 'role' } }, 'recipients.role'],
    ['a data path that is not a dotted identifier', { recipients: { kind: 'data', path: 'participant ids' } }, 'recipients.path'],
    ['a data path with an empty segment', { recipients: { kind: 'data', path: 'order..ownerId' } }, 'recipients.path'],
    ['an unknown priority', { priority: 'critical' }, 'priority'],
    ['content without any field', { content: {} }, 'content'],
    ['content with an unknown field', { content: { title: 'x', colour: 'red' } }, 'content'],
    ['a fallback on a rule without inapp', { channels: ['email'], delivery: { fallback: { channel: 'email', afterSeconds: 60, unless: 'seen' } } }, 'delivery.fallback'],
    ['a fallback to an unknown channel', { delivery: { fallback: { channel: 'sms', afterSeconds: 60, unless: 'seen' } } }, 'delivery.fallback.channel'],
    ['a fallback over a day', { delivery: { fallback: { channel: 'email', afterSeconds: 86_401, unless: 'seen' } } }, 'delivery.fallback.afterSeconds'],
    ['a digest window under 10 s', { delivery: { digest: { windowSeconds: 5 } } }, 'delivery.digest.windowSeconds'],
    ['a digest on a rule that sends only in-app', { channels: ['inapp'], delivery: { digest: { windowSeconds: 60 } } }, 'delivery.digest'],
    ['a digest on a webhook-only rule', { channels: ['webhook'], webhookUrl: 'https://hooks.example.com/h', delivery: { digest: { windowSeconds: 60 } } }, 'delivery.digest'],
    ['a digest window over a week', { delivery: { digest: { windowSeconds: 604_801 } } }, 'delivery.digest.windowSeconds'],
    ['a digest of more than 1000 items', { delivery: { digest: { windowSeconds: 60, maxItems: 1_001 } } }, 'delivery.digest.maxItems'],
    ['a negative fallback delay', { delivery: { fallback: { channel: 'email', afterSeconds: -1, unless: 'seen' } } }, 'delivery.fallback.afterSeconds'],
    ['an unknown fallback condition', { delivery: { fallback: { channel: 'email', afterSeconds: 60, unless: 'clicked' } } }, 'delivery.fallback.unless'],
  ])('answers 400 naming the field for %s', async (_name, over, field) => {
    const res = await api.post('/api/v1/rules', v2Rule(over));
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('answers 400 with the field and line of a content syntax error, and 422 for content past the render budget', async () => {
    const broken = await api.post('/api/v1/rules', v2Rule({ content: { title: 'ok', body: 'line one\n{{#if data.x}}never closed' } }));
    expect(broken.status).toBe(400);
    expect(broken.body.error.details).toEqual([expect.objectContaining({ field: 'content.body', line: expect.any(Number) })]);
    expect(broken.body.error.message).toMatch(/content\.body: line \d+/);

    const unknownHelper = await api.post('/api/v1/rules', v2Rule({ content: { title: '{{lookupSecrets data}}' } }));
    expect(unknownHelper.status).toBe(400);
    expect(unknownHelper.body.error.details[0].field).toBe('content.title');

    const partials = Array.from({ length: 10 }, (_, i) => `{{#*inline "p${i + 1}"}}${`{{> p${i}}}`.repeat(10)}{{/inline}}`).join('');
    const bomb = await api.post('/api/v1/rules', v2Rule({ content: { body: `{{#*inline "p0"}}x{{/inline}}${partials}{{> p10}}` } }));
    expect(bomb.status).toBe(422);
    expect(bomb.body.error).toMatchObject({ code: 'template_too_expensive', details: [expect.objectContaining({ field: 'content.body' })] });

    // A PATCH is checked the same way.
    const rule = await create(v2Rule({ content: { title: 'fine' } }));
    const patched = await api.patch(`/api/v1/rules/${rule.id}`, { content: { title: '{{#each}}' } });
    expect(patched.status).toBe(400);
    expect((await api.get(`/api/v1/rules/${rule.id}`)).body.content).toEqual({ title: 'fine' });
  });

  it('answers 409 for the same pattern, channel set, severity filter and recipients; any of them different is another rule', async () => {
    const base = v2Rule({ channels: ['inapp', 'email'], recipients: { kind: 'users', userIds: ['ann', 'bob'] } });
    await create(base);
    // The same set in another order, the same users in another order and repeated: the same rule.
    const same = await api.post('/api/v1/rules', { ...base, channels: ['email', 'inapp'], recipients: { kind: 'users', userIds: ['bob', 'ann', 'ann'] }, priority: 'urgent' });
    expect(same.status).toBe(409);
    for (const other of [
      { channels: ['inapp'] },
      { recipients: { kind: 'users', userIds: ['ann'] } },
      { recipients: { kind: 'event' } },
      { severityFilter: 'high' },
      { eventType: `${base.eventType}.x` },
    ]) {
      expect((await api.post('/api/v1/rules', { ...base, ...other })).status, JSON.stringify(other)).toBe(201);
    }
    // A disabled rule does not hold its place.
    const disabled = await create({ ...base, eventType: `${freshType()}.*`, enabled: false });
    expect((await api.post('/api/v1/rules', { ...base, eventType: disabled.eventType })).status).toBe(201);
  });

  it('PATCH changes priority, content, recipients and delivery; null clears them; channels cannot change', async () => {
    const rule = await create(v2Rule({ priority: 'high', content: { title: 'a' } }));
    const changed = await api.patch(`/api/v1/rules/${rule.id}`, {
      priority: 'urgent',
      recipients: { kind: 'teams', teamIds: ['sec'] },
      delivery: { fallback: { channel: 'push', afterSeconds: 0, unless: 'online' } },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ priority: 'urgent', recipients: { kind: 'teams', teamIds: ['sec'] }, content: { title: 'a' }, delivery: { fallback: { channel: 'push', afterSeconds: 0, unless: 'online' } } });
    const cleared = await api.patch(`/api/v1/rules/${rule.id}`, { priority: null, content: null, delivery: null });
    expect(cleared.body).toMatchObject({ priority: null, content: null, delivery: null });
    const channels = await api.patch(`/api/v1/rules/${rule.id}`, { channels: ['inapp'] });
    expect(channels.status).toBe(400);
    expect(channels.body.error.details[0].field).toBe('channels');
    expect((await api.patch(`/api/v1/rules/${rule.id}`, { channels: ['push', 'inapp'] })).status).toBe(200);
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
