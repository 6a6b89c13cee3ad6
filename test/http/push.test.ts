import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ensureDemoVapidKeys, generateVapidKeys } from '../../src/push/vapidKeys.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

const vapid = generateVapidKeys();
let env: TestEnv;
let api: ApiClient;
let u1: string;
let u2: string;

beforeAll(async () => {
  env = await createTestEnv({ VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:ops@herald.test' });
  const web = await env.startWeb();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
  u1 = await env.userToken('u1', ['acme']);
  u2 = await env.userToken('u2', ['acme']);
});
afterAll(() => env?.cleanup());

function browserKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

const fcm = (id: string) => `https://fcm.googleapis.com/fcm/send/${id}`;
const subscription = (endpoint: string, keys = browserKeys()) => ({ endpoint, expirationTime: null, keys });
const unsubscribe = (endpoint: unknown, token: string | null) => api.call('DELETE', '/api/v1/me/push-subscriptions', { endpoint }, token);

async function stored(endpoint: string) {
  return env.db.$client`select user_id, p256dh, auth from push_subscriptions where endpoint = ${endpoint} order by user_id`;
}

describe('GET /api/v1/push/vapid-public-key', () => {
  it('serves the configured public key without authentication', async () => {
    const res = await api.get('/api/v1/push/vapid-public-key', null);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ publicKey: vapid.publicKey });
  });

  it('says clearly that push is not configured when no key pair is set', async () => {
    const bare = await env.startWeb({ VAPID_PUBLIC_KEY: undefined, VAPID_PRIVATE_KEY: undefined, VAPID_SUBJECT: undefined });
    const res = await apiClient(bare.url).get('/api/v1/push/vapid-public-key', null);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('push_not_configured');
    expect(res.body.error.message).toMatch(/not configured.*VAPID_PUBLIC_KEY/);
  });
});

describe('POST /api/v1/me/push-subscriptions', () => {
  it('stores a new subscription (201), updates its keys on re-subscribe (200), and keeps one row', async () => {
    const endpoint = fcm('device-a');
    const first = await api.post('/api/v1/me/push-subscriptions', subscription(endpoint), u1);
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ endpoint });

    const rotated = browserKeys();
    const again = await api.post('/api/v1/me/push-subscriptions', subscription(endpoint, rotated), u1);
    expect(again.status).toBe(200);
    expect(await stored(endpoint)).toEqual([{ user_id: 'u1', p256dh: rotated.p256dh, auth: rotated.auth }]);
  });

  it('keeps several devices per user', async () => {
    for (const id of ['phone', 'laptop', 'tablet']) {
      expect((await api.post('/api/v1/me/push-subscriptions', subscription(fcm(`u2-${id}`)), u2)).status).toBe(201);
    }
    const rows = await env.db.$client`select endpoint from push_subscriptions where user_id = 'u2'`;
    expect(rows).toHaveLength(3);
  });

  it('moves an endpoint to whoever subscribed in that browser last', async () => {
    const endpoint = fcm('shared-browser');
    expect((await api.post('/api/v1/me/push-subscriptions', subscription(endpoint), u1)).status).toBe(201);
    expect((await api.post('/api/v1/me/push-subscriptions', subscription(endpoint), u2)).status).toBe(201);
    expect((await stored(endpoint)).map((r) => r.user_id)).toEqual(['u2']);
    expect((await unsubscribe(endpoint, u1)).status).toBe(404);
  });

  it('stays with one owner when two users subscribe the same endpoint at once', async () => {
    const endpoint = fcm('race');
    await Promise.all([u1, u2, u1, u2].map((token) => api.post('/api/v1/me/push-subscriptions', subscription(endpoint), token)));
    expect(await stored(endpoint)).toHaveLength(1);
  });

  const p256dh65NotOnCurve = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url');
  it.each([
    ['endpoint', { ...subscription(fcm('x')), endpoint: 'http://fcm.googleapis.com/fcm/send/x' }],
    ['endpoint', { ...subscription(fcm('x')), endpoint: 'https://10.0.0.7/push/x' }],
    ['endpoint', { ...subscription(fcm('x')), endpoint: 'https://169.254.169.254/latest' }],
    ['endpoint', { ...subscription(fcm('x')), endpoint: 'https://localhost/push' }],
    ['endpoint', { ...subscription(fcm('x')), endpoint: 'not a url' }],
    ['endpoint', { keys: browserKeys() }],
    ['keys', { endpoint: fcm('x') }],
    ['keys.p256dh', { endpoint: fcm('x'), keys: { ...browserKeys(), p256dh: randomBytes(32).toString('base64url') } }],
    ['keys.p256dh', { endpoint: fcm('x'), keys: { ...browserKeys(), p256dh: p256dh65NotOnCurve } }],
    ['keys.p256dh', { endpoint: fcm('x'), keys: { ...browserKeys(), p256dh: 'not base64url!' } }],
    ['keys.auth', { endpoint: fcm('x'), keys: { ...browserKeys(), auth: randomBytes(8).toString('base64url') } }],
    ['keys.auth', { endpoint: fcm('x'), keys: { ...browserKeys(), auth: '$$$$$$$$$$$$$$$$$$$$$$' } }],
  ])('refuses a bad %s with a 400 naming it (%#)', async (field, body) => {
    const res = await api.post('/api/v1/me/push-subscriptions', body, u1);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('admits a local push service only through OUTBOUND_ALLOW_HOSTS', async () => {
    const local = subscription('http://127.0.0.1:8090/notify/abc');
    expect((await api.post('/api/v1/me/push-subscriptions', local, u1)).status).toBe(400);
    const allowing = await env.startWeb({ OUTBOUND_ALLOW_HOSTS: ['127.0.0.1:8090'] });
    expect((await apiClient(allowing.url).post('/api/v1/me/push-subscriptions', local, u1)).status).toBe(201);
  });

  it('wants a user token', async () => {
    const body = subscription(fcm('anon'));
    expect((await api.post('/api/v1/me/push-subscriptions', body, null)).status).toBe(401);
    expect((await api.post('/api/v1/me/push-subscriptions', body)).status).toBe(401);
  });
});

describe('DELETE /api/v1/me/push-subscriptions', () => {
  it('removes the user’s own subscription (204), and answers 404 for someone else’s or an unknown one', async () => {
    const endpoint = fcm('to-remove');
    await api.post('/api/v1/me/push-subscriptions', subscription(endpoint), u1);
    expect((await unsubscribe(endpoint, u2)).status).toBe(404);
    expect(await stored(endpoint)).toHaveLength(1);
    expect((await unsubscribe(endpoint, u1)).status).toBe(204);
    expect(await stored(endpoint)).toHaveLength(0);
    expect((await unsubscribe(endpoint, u1)).status).toBe(404);
  });

  it('wants an endpoint and a user token', async () => {
    const res = await unsubscribe(undefined, u1);
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field).toBe('endpoint');
    expect((await unsubscribe(fcm('x'), null)).status).toBe(401);
  });
});

describe('VAPID configuration', () => {
  const base = { JWT_SECRET: 'a-secret-that-is-long-enough-for-hs256!!' };

  it('takes all three variables together, and checks that the pair belongs together', () => {
    const config = loadConfig({ ...base, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'https://herald.example' });
    expect(config.VAPID_PUBLIC_KEY).toBe(vapid.publicKey);
    expect(loadConfig(base).VAPID_PUBLIC_KEY).toBeUndefined();

    expect(() => loadConfig({ ...base, VAPID_PUBLIC_KEY: vapid.publicKey })).toThrow(/^Invalid configuration: VAPID_PRIVATE_KEY is required when VAPID_PUBLIC_KEY is set$/);
    const other = generateVapidKeys();
    expect(() => loadConfig({ ...base, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: other.privateKey, VAPID_SUBJECT: 'mailto:a@b.example' })).toThrow(
      /^Invalid configuration: VAPID_PRIVATE_KEY does not belong to VAPID_PUBLIC_KEY$/,
    );
    expect(() => loadConfig({ ...base, VAPID_PUBLIC_KEY: 'short', VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:a@b.example' })).toThrow(
      /^Invalid configuration: VAPID_PUBLIC_KEY must be/,
    );
    expect(() => loadConfig({ ...base, ...vapid, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'ops@herald.example' })).toThrow(
      /^Invalid configuration: VAPID_SUBJECT must be a mailto: address or an https: URL$/,
    );
  });

  it('generates the demo key pair once into .data/vapid.json and keeps it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'herald-vapid-'));
    try {
      const first = ensureDemoVapidKeys(dataDir);
      const file = join(dataDir, 'vapid.json');
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(first);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(ensureDemoVapidKeys(dataDir)).toEqual(first);
      const config = loadConfig({ ...base, VAPID_PUBLIC_KEY: first.publicKey, VAPID_PRIVATE_KEY: first.privateKey, VAPID_SUBJECT: first.subject });
      expect(config.VAPID_SUBJECT).toBe(first.subject);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
