import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let admin: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  admin = apiClient(web.url);
  await seedDirectory(admin, 'acme', ['u1', 'u2', 'u3', 'u4']);
  api = apiClient(web.url, await env.userToken('u1', ['acme']));
});
afterAll(() => env?.cleanup());

const PATH = '/api/v1/me/preferences';

describe('GET /api/v1/me/preferences', () => {
  it('answers {} for a user who never chose: the defaults apply', async () => {
    const res = await api.get(PATH);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
  });

  it('answers 401 without a token and to a service key, and 404 for a token whose user is not in the directory', async () => {
    expect((await api.get(PATH, null)).status).toBe(401);
    expect((await api.get(PATH, SERVICE_KEY)).status).toBe(401);
    const stranger = await env.userToken('nobody', ['acme']);
    expect((await api.get(PATH, stranger)).status).toBe(404);
    expect((await api.put(PATH, { 'finding_created.email': false }, stranger)).status).toBe(404);
    expect((await api.patch(PATH, { 'finding_created.email': false }, stranger)).status).toBe(404);
  });
});

describe('PUT and PATCH /api/v1/me/preferences', () => {
  it('PUT replaces the matrix and answers with what is stored', async () => {
    const token = await env.userToken('u2', ['acme']);
    const first = await api.put(PATH, { 'finding_created.email': false, new_finding_email: true }, token);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ 'finding_created.email': false, new_finding_email: true });
    const second = await api.put(PATH, { 'sla_breached.slack': true }, token);
    expect(second.body).toEqual({ 'sla_breached.slack': true });
    expect((await api.get(PATH, token)).body).toEqual({ 'sla_breached.slack': true });
    expect((await api.put(PATH, {}, token)).body).toEqual({});
  });

  it('PATCH merges keys into the stored matrix', async () => {
    const token = await env.userToken('u3', ['acme']);
    await api.put(PATH, { 'finding_created.email': false, 'finding_created.push': false }, token);
    const res = await api.patch(PATH, { 'finding_created.push': true, 'finding_created.slack': true }, token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ 'finding_created.email': false, 'finding_created.push': true, 'finding_created.slack': true });
    expect((await api.get(PATH, token)).body).toEqual(res.body);
  });

  it('keeps both changes when two PATCHes of different keys race', async () => {
    const token = await env.userToken('u4', ['acme']);
    const keys = Array.from({ length: 8 }, (_, i) => `type_${i}.email`);
    await Promise.all(keys.map((key) => api.patch(PATH, { [key]: false }, token)));
    expect(Object.keys((await api.get(PATH, token)).body).sort()).toEqual(keys.sort());
  });

  it.each([
    ['a non-boolean value', { 'finding_created.email': 'no' }, 'finding_created.email'],
    ['an unknown channel', { 'finding_created.carrier_pigeon': true }, 'finding_created.carrier_pigeon'],
    ['a key that is neither namespaced nor legacy', { email: false }, 'email'],
    ['an inherited name', { constructor: true }, 'constructor'],
  ])('answers 400 naming the key for %s, and stores nothing', async (_name, body, key) => {
    for (const method of ['put', 'patch'] as const) {
      const res = await api[method](PATH, body);
      expect(res.status).toBe(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(key);
      expect(res.body.error.message).toContain(key);
    }
    expect((await api.get(PATH)).body).not.toHaveProperty(key);
  });

  it('answers 400 to a body that is not an object', async () => {
    expect((await api.put(PATH, [true])).status).toBe(400);
    expect((await api.patch(PATH, 'true')).status).toBe(400);
  });

  it('shares one matrix with the directory: a user PUT may set it, and one without preferences keeps it', async () => {
    const put = await admin.put('/api/v1/users/u1', { email: 'u1@acme.example', name: 'u1', tenantIds: ['acme'], preferences: { scan_complete_email: false } });
    expect(put.status).toBe(200);
    expect((await api.get(PATH)).body).toEqual({ scan_complete_email: false });
    await api.patch(PATH, { 'scan_completed.inapp': false });
    await admin.put('/api/v1/users/u1', { email: 'u1@acme.example', name: 'u1 renamed', tenantIds: ['acme'] });
    expect((await api.get(PATH)).body).toEqual({ scan_complete_email: false, 'scan_completed.inapp': false });
    const bad = await admin.put('/api/v1/users/u1', { email: 'u1@acme.example', name: 'u1', tenantIds: ['acme'], preferences: { 'x.fax': true } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((d: { field: string }) => d.field)).toContain('preferences.x.fax');
  });
});

describe('GET and PUT /api/v1/me/chat', () => {
  const CHAT = '/api/v1/me/chat';
  const SLACK = 'https://hooks.slack.com/services/T0001/B0001/personal-secret';
  const TEAMS = 'https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456';

  it('answers nulls until set, then what PUT stored; PUT replaces, so a URL left out is removed', async () => {
    const token = await env.userToken('u4', ['acme']);
    expect((await api.get(CHAT, token)).body).toEqual({ slackWebhookUrl: null, teamsWebhookUrl: null });

    const both = await api.put(CHAT, { slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS }, token);
    expect(both.status).toBe(200);
    expect(both.body).toEqual({ slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS });
    expect((await api.get(CHAT, token)).body).toEqual({ slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS });
    // The directory shows the same fields to an admin.
    expect((await admin.get('/api/v1/users/u4')).body).toMatchObject({ slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS });

    const slackOnly = await api.put(CHAT, { slackWebhookUrl: SLACK }, token);
    expect(slackOnly.body).toEqual({ slackWebhookUrl: SLACK, teamsWebhookUrl: null });
    expect((await api.put(CHAT, {}, token)).body).toEqual({ slackWebhookUrl: null, teamsWebhookUrl: null });
  });

  it('refuses a URL the chat worker would refuse, naming the field, and stores nothing', async () => {
    const token = await env.userToken('u4', ['acme']);
    await api.put(CHAT, { slackWebhookUrl: SLACK }, token);
    for (const [field, url] of [
      ['slackWebhookUrl', 'https://evil.example/services/T/B/x'],
      ['slackWebhookUrl', 'http://hooks.slack.com/services/T/B/x'],
      ['teamsWebhookUrl', 'https://169.254.169.254/latest/meta-data'],
      ['teamsWebhookUrl', 'http://127.0.0.1:8080/teams'],
    ] as const) {
      const res = await api.put(CHAT, { [field]: url }, token);
      expect(res.status, url).toBe(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    expect((await api.put(CHAT, { slackWebhookUrl: 42 }, token)).status).toBe(400);
    expect((await api.get(CHAT, token)).body).toEqual({ slackWebhookUrl: SLACK, teamsWebhookUrl: null });
  });

  it('answers 401 without a user token and 404 for a token whose user is not in the directory', async () => {
    expect((await api.get(CHAT, null)).status).toBe(401);
    expect((await api.put(CHAT, {}, SERVICE_KEY)).status).toBe(401);
    const stranger = await env.userToken('nobody', ['acme']);
    expect((await api.get(CHAT, stranger)).status).toBe(404);
    expect((await api.put(CHAT, { slackWebhookUrl: SLACK }, stranger)).status).toBe(404);
  });
});
