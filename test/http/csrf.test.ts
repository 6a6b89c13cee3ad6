/**
 * Issue #14 item 8: the browser attaches the herald_token cookie to requests any site makes, so
 * a state-changing request the cookie authenticates must come from the API's own origin (SPEC
 * §7.1). Each "attack" is what a hostile page can make a signed-in browser send.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let url: string;
let api: ApiClient;
let userToken: string;

beforeAll(async () => {
  env = await createTestEnv({ HERALD_DEMO: 'true' });
  url = (await env.startWeb()).url;
  api = apiClient(url);
  await env.startRouter();
  await env.startInapp();
  await seedDirectory(api, 'acme', ['u1']);
  userToken = await env.userToken('u1', ['acme']);
  expect((await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] })).status).toBe(202);
  await eventually(async () => (await api.get('/api/v1/notifications/summary', userToken)).body.unread === 1);
});
afterAll(() => env?.cleanup());

type Headers = Record<string, string>;

/** A request as a browser sends it with the session cookie, plus whatever `headers` it adds. */
function withCookie(method: string, path: string, headers: Headers, body?: unknown, token = userToken) {
  return fetch(url + path, {
    method,
    headers: { cookie: `herald_token=${token}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** What a page on another site, or no page at all, can make the browser send. */
const foreign: [string, Headers][] = [
  ['neither Origin nor Sec-Fetch-Site', {}],
  ['another site’s Origin', { origin: 'https://evil.example' }],
  ['Origin null (sandboxed frame)', { origin: 'null' }],
  ['another port on the same host', { origin: 'http://127.0.0.1:1' }],
  ['Sec-Fetch-Site cross-site', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }],
  ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }],
];

const unread = async () => (await api.get('/api/v1/notifications/summary', userToken)).body.unread as number;

describe('cookie-authenticated state changes (SPEC §7.1)', () => {
  it('refuses them 403 from anywhere but the API’s own origin, and nothing changes', async () => {
    const writes: [string, string, unknown?][] = [
      ['POST', '/api/v1/notifications/read-all'],
      ['PUT', '/api/v1/me/preferences', { 'finding_created.inapp': false }],
      ['PATCH', '/api/v1/me/preferences', { 'finding_created.email': false }],
      ['PUT', '/api/v1/me/chat', { slackWebhookUrl: 'https://hooks.slack.com/services/TEVIL/BEVIL/attacker' }],
      ['DELETE', '/api/v1/me/push-subscriptions', { endpoint: 'https://fcm.googleapis.com/fcm/send/x' }],
    ];
    for (const [method, path, body] of writes) {
      for (const [what, headers] of foreign) {
        const res = await withCookie(method, path, headers, body);
        expect(res.status, `${method} ${path} with ${what}`).toBe(403);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
      }
    }
    expect(await unread()).toBe(1);
    expect((await api.get('/api/v1/me/preferences', userToken)).body).toEqual({});
    expect((await api.get('/api/v1/me/chat', userToken)).body).toEqual({ slackWebhookUrl: null, teamsWebhookUrl: null });
  });

  it('refuses an admin’s cookie, a demo publish and the queue board the same way', async () => {
    const admin = await env.userToken('boss', ['acme'], 'admin');
    expect((await withCookie('PUT', '/api/v1/tenants/acme', {}, { name: 'Taken over' }, admin)).status).toBe(403);
    expect((await api.get('/api/v1/tenants/acme')).body.name).toBe('Tenant acme');
    expect((await withCookie('POST', '/demo/publish', { origin: 'https://evil.example' }, {})).status).toBe(403);
    expect((await withCookie('PUT', '/admin/queues/api/queues/route/pause', {}, {}, SERVICE_KEY)).status).toBe(403);
  });

  it('lets the API’s own pages through: an Origin of this host, or Sec-Fetch-Site same-origin; reads need neither', async () => {
    expect((await withCookie('GET', '/api/v1/notifications/summary', {})).status).toBe(200);
    expect((await withCookie('PATCH', '/api/v1/me/preferences', { origin: url }, { 'finding_created.email': false })).status).toBe(200);
    expect((await withCookie('PATCH', '/api/v1/me/preferences', { 'sec-fetch-site': 'same-origin' }, { 'scan_completed.email': false })).status).toBe(200);
    const read = await withCookie('POST', '/api/v1/notifications/read-all', { origin: url, 'sec-fetch-site': 'same-origin' });
    expect(read.status).toBe(200);
    expect(await unread()).toBe(0);
  });

  it('leaves Bearer tokens and service keys alone: no browser sends those by itself', async () => {
    expect((await api.patch('/api/v1/me/preferences', { 'report_ready.email': false }, userToken)).status).toBe(200);
    expect((await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created' })).status).toBe(202);
    expect((await api.put('/api/v1/tenants/acme', { name: 'Tenant acme' })).status).toBe(200);
  });
});
