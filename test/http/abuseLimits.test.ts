/**
 * Issue #14 item 5: amplification. A tenant may not turn test-sends into a spam relay, a user may
 * not turn one notification into thousands of POSTs, and a preference matrix may not grow without
 * bound through merges.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { generateVapidKeys } from '../../src/push/vapidKeys.ts';
import { startPush } from '../../workers/roles/push.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { startLocalServer, type LocalServer } from '../outbound/localServer.ts';

const vapid = generateVapidKeys();
let env: TestEnv;
let smtp: SmtpReceiver;
let receiver: LocalServer;
let api: ApiClient;
let other: ApiClient;

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  receiver = await startLocalServer((_req, res) => {
    res.statusCode = 201;
    res.end();
  });
  env = await createTestEnv({
    SMTP_URL: smtp.url,
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: 'mailto:ops@herald.test',
  });
  // Two API instances on one Redis, as behind a load balancer.
  api = apiClient((await env.startWeb()).url);
  other = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startPush);
  await seedDirectory(api, 'acme', ['u1', 'u2', 'u3']);
  await seedDirectory(api, 'globex', ['g1']);
});
afterAll(async () => {
  await env?.cleanup();
  await smtp?.close();
  await receiver?.close();
});

const browserKeys = () => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
};

describe('test-send (SPEC §7.1: 10 per tenant per minute)', () => {
  it('answers the 11th test-send of a tenant within a minute 429 with Retry-After, on every API instance, and sends nothing more', async () => {
    const template = async (tenantId: string) => {
      const res = await api.post('/api/v1/templates', { tenantId, eventType: 'spam', channel: 'email', subject: 'Win {{data.prize}}', html: '<p>{{data.prize}}</p>' });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };
    const acme = await template('acme');
    const send = (client: ApiClient, id: string, i: number) => client.post(`/api/v1/templates/${id}/test-send`, { to: `victim${i}@spam.example`, data: { prize: 'a yacht' } });

    for (let i = 0; i < 10; i++) expect((await send(i % 2 ? other : api, acme, i)).status, `send ${i + 1}`).toBe(202);
    for (const client of [api, other]) {
      const refused = await send(client, acme, 99);
      expect(refused.status).toBe(429);
      expect(refused.body.error.code).toBe('rate_limited');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Another tenant has its own count.
    expect((await send(api, await template('globex'), 50)).status).toBe(202);

    await new Promise((r) => setTimeout(r, 300));
    const spam = smtp.received.filter((m) => m.to.some((address) => address.startsWith('victim')));
    expect(spam).toHaveLength(11);
    expect(smtp.to('victim99@spam.example')).toEqual([]);
  });
});

describe('push subscriptions (SPEC §7.1: at most 20 per user)', () => {
  const endpoint = (user: string, i: number) => `${receiver.origin}/${user}/device-${i}`;
  const subscribe = async (user: string, i: number) =>
    api.post('/api/v1/me/push-subscriptions', { endpoint: endpoint(user, i), expirationTime: null, keys: browserKeys() }, await env.userToken(user, ['acme']));
  const stored = async (user: string) =>
    (await env.db.$client`select endpoint from push_subscriptions where user_id = ${user} order by created_at, endpoint`).map((r) => r.endpoint as string);

  it('keeps the newest 20: the 21st replaces the oldest, and one notification makes at most 20 POSTs', async () => {
    // The 20 sends share the job's abort signal; Node must not take them for a listener leak.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    onTestFinished(() => void process.off('warning', onWarning));
    for (let i = 0; i < 25; i++) expect((await subscribe('u1', i)).status).toBe(201);
    const kept = await stored('u1');
    expect(kept).toHaveLength(20);
    expect(kept).toEqual(Array.from({ length: 20 }, (_, i) => endpoint('u1', i + 5)));

    const res = await api.post('/api/v1/events', { tenantId: 'acme', type: 'fan_out', assigneeUserIds: ['u1'], data: { title: 'one event' } });
    expect(res.status).toBe(202);
    await eventually(async () => {
      const rows = await env.db.$client`select state from deliveries where event_id = ${res.body.id} and channel = 'push'`;
      return rows.length === 1 && rows[0]!.state !== 'pending';
    });
    await new Promise((r) => setTimeout(r, 300));
    const posts = receiver.requests.filter((r) => r.url.startsWith('/u1/'));
    expect(posts).toHaveLength(20);
    expect(posts.map((p) => p.url).sort()).toEqual(kept.map((e) => new URL(e).pathname).sort());
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  it('holds the bound when a user subscribes many devices at once', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => subscribe('u2', i)));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 30 }, () => 201));
    expect(await stored('u2')).toHaveLength(20);
  });
});

describe('preference matrix (SPEC §7.1: at most 1,000 keys, after a merge too)', () => {
  const keys = (from: number, count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`type_${from + i}.email`, false]));

  it('refuses a PATCH whose merge would pass 1,000 keys with 400 naming the body, and keeps the matrix as it was', async () => {
    const token = await env.userToken('u3', ['acme']);
    expect((await api.put('/api/v1/me/preferences', keys(0, 990), token)).status).toBe(200);

    const over = await api.patch('/api/v1/me/preferences', keys(990, 20), token);
    expect(over.status).toBe(400);
    expect(over.body.error.details).toEqual([expect.objectContaining({ field: '(body)' })]);
    expect(Object.keys((await api.get('/api/v1/me/preferences', token)).body)).toHaveLength(990);

    // Two merges at once that fit only one at a time: one is stored, the other refused.
    const both = await Promise.all([api.patch('/api/v1/me/preferences', keys(2000, 6), token), other.patch('/api/v1/me/preferences', keys(3000, 6), token)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 400]);
    const after = (await api.get('/api/v1/me/preferences', token)).body;
    expect(Object.keys(after)).toHaveLength(996);

    const filled = await api.patch('/api/v1/me/preferences', keys(4000, 4), token);
    expect(filled.status).toBe(200);
    expect(Object.keys(filled.body)).toHaveLength(1_000);
    // Changing keys it already has never grows it.
    expect((await api.patch('/api/v1/me/preferences', { 'type_0.email': true }, token)).status).toBe(200);
  });
});
