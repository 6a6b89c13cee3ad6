import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/channels/push.ts';
import { PermanentDeliveryError } from '../../src/errors.ts';
import { createDeliveryStore } from '../../src/deliveries/deliveryStore.ts';
import { createBreakerRegistry } from '../../src/outbound/breakers.ts';
import { createOutboundClient } from '../../src/outbound/httpClient.ts';
import { encodePushMessage, MAX_PUSH_PAYLOAD_BYTES, pushDeliveryOptions, pushTopic } from '../../src/push/pushMessage.ts';
import { generateVapidKeys } from '../../src/push/vapidKeys.ts';
import { directSource } from '../../src/templates/templateRenderer.ts';
import { startPush } from '../../workers/roles/push.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { browserKeys, startMockPushService, type Subscription } from '../helpers/pushService.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { startLocalServer, type LocalServer } from '../outbound/localServer.ts';

const vapid = generateVapidKeys();
let env: TestEnv;
let api: ApiClient;
let pushService: Awaited<ReturnType<typeof startMockPushService>>;
let receiver: LocalServer;
let flakyCalls = 0;

beforeAll(async () => {
  pushService = await startMockPushService();
  receiver = await startLocalServer((req, res) => {
    if (req.url.startsWith('/gone/')) res.statusCode = 410;
    else if (req.url.startsWith('/flaky/') && flakyCalls++ === 0) {
      res.statusCode = 429;
      res.setHeader('retry-after', '1');
    } else res.statusCode = 201;
    res.end();
  });
  env = await createTestEnv({
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1,localhost',
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: 'mailto:ops@herald.test',
  });
  const web = await env.startWeb();
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startPush);
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7']);
});
afterAll(async () => {
  await env?.cleanup();
  await pushService?.close();
  await receiver?.close();
});

async function subscribe(userId: string, subscription: Subscription) {
  const res = await api.post('/api/v1/me/push-subscriptions', subscription, await env.userToken(userId, ['acme']));
  expect(res.status).toBe(201);
}

async function publish(body: Record<string, unknown>): Promise<string> {
  const res = await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', ...body });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

/** The event's push deliveries once none is pending. */
async function settledPushDeliveries(eventId: string) {
  return eventually(async () => {
    const rows = await env.db.$client`
      select id, destination, state, attempts, last_error from deliveries where event_id = ${eventId} and channel = 'push' order by destination`;
    return rows.length > 0 && rows.every((r) => r.state !== 'pending') ? rows : null;
  });
}

const endpointsOf = async (userId: string) =>
  (await env.db.$client`select endpoint from push_subscriptions where user_id = ${userId} order by endpoint`).map((r) => r.endpoint as string);

describe('Web Push delivery through a real push service', () => {
  it('sends an encrypted push that decrypts to the notification, and marks the delivery delivered', async () => {
    const device = await pushService.subscribe(vapid.publicKey);
    await subscribe('u1', device.subscription);
    const id = await publish({
      id: 'evt_push_1',
      severity: 'critical',
      assigneeUserIds: ['u1'],
      data: { title: 'SQL injection in /login', body: 'Parameter id is injectable', url: 'https://app.example/findings/42' },
    });

    const [message] = await eventually(async () => {
      const received = await pushService.messages(device.clientHash);
      return received.length > 0 ? received : null;
    });
    const payload = JSON.parse(message!);
    expect(payload).toMatchObject({
      title: 'SQL injection in /login',
      body: 'Parameter id is injectable',
      url: 'https://app.example/findings/42',
      eventId: id,
      tag: `herald:${id}`,
    });
    if ('notificationId' in payload) expect(payload.notificationId).toMatch(/^\d+$/);

    const [delivery] = await settledPushDeliveries(id);
    expect(delivery).toMatchObject({ destination: 'u1', state: 'delivered', attempts: 1, last_error: null });
    expect(await pushService.messages(device.clientHash)).toHaveLength(1);
  });

  it('gives each of a user’s devices exactly one push', async () => {
    const phone = await pushService.subscribe(vapid.publicKey);
    const laptop = await pushService.subscribe(vapid.publicKey);
    await subscribe('u2', phone.subscription);
    await subscribe('u2', laptop.subscription);
    const id = await publish({ id: 'evt_push_devices', assigneeUserIds: ['u2'], data: { title: 'Two devices' } });

    const [delivery] = await settledPushDeliveries(id);
    expect(delivery).toMatchObject({ destination: 'u2', state: 'delivered' });
    for (const device of [phone, laptop]) {
      const received = await pushService.messages(device.clientHash);
      expect(received.map((m) => JSON.parse(m).eventId)).toEqual([id]);
    }
  });

  it('keeps the payload within 4 KiB by cutting the text, still decryptable', async () => {
    const device = await pushService.subscribe(vapid.publicKey);
    await subscribe('u1', device.subscription);
    const id = await publish({ id: 'evt_push_long', assigneeUserIds: ['u1'], data: { title: 'Long one', body: 'ünïcødé 🚨 '.repeat(2_000) } });

    const [message] = await eventually(async () => {
      const received = await pushService.messages(device.clientHash);
      return received.length > 0 ? received : null;
    });
    expect(Buffer.byteLength(message!)).toBeLessThanOrEqual(MAX_PUSH_PAYLOAD_BYTES);
    const payload = JSON.parse(message!);
    expect(payload.title).toBe('Long one');
    expect(payload.eventId).toBe(id);
    expect(payload.body.endsWith('…')).toBe(true);
    expect(payload.body.length).toBeGreaterThan(1_000);
  });

  it('removes an expired subscription; when it was the user’s only one, the delivery fails for good saying so', async () => {
    const device = await pushService.subscribe(vapid.publicKey);
    await subscribe('u3', device.subscription);
    await pushService.expire(device.clientHash);
    const id = await publish({ id: 'evt_push_expired', assigneeUserIds: ['u3'] });

    const [delivery] = await settledPushDeliveries(id);
    expect(delivery).toMatchObject({ state: 'failed', attempts: 1 });
    expect(delivery!.last_error).toMatch(/only push subscription is gone .*HTTP 410.*removed/);
    expect(delivery!.last_error).not.toContain(device.clientHash);
    expect(await endpointsOf('u3')).toEqual([]);
    const [attempt] = await env.db.$client`select status_code, outcome from delivery_attempts where delivery_id = ${delivery!.id}`;
    expect(attempt).toMatchObject({ status_code: 410, outcome: 'failed' });
  });

  it('drops a gone device without failing the delivery when another device got it', async () => {
    const good = await pushService.subscribe(vapid.publicKey);
    await subscribe('u4', good.subscription);
    await subscribe('u4', { endpoint: `${receiver.origin}/gone/old-browser`, keys: browserKeys() });
    const id = await publish({ id: 'evt_push_one_gone', assigneeUserIds: ['u4'] });

    const [delivery] = await settledPushDeliveries(id);
    expect(delivery).toMatchObject({ state: 'delivered', last_error: null });
    expect(await endpointsOf('u4')).toEqual([good.subscription.endpoint]);
    expect(await pushService.messages(good.clientHash)).toHaveLength(1);
  });

  it('sends nothing when the user turned push off for the event type', async () => {
    const device = await pushService.subscribe(vapid.publicKey);
    await subscribe('u5', device.subscription);
    const put = await api.put('/api/v1/users/u5', { email: 'u5@acme.example', name: 'u5', tenantIds: ['acme'], preferences: { 'finding_created.push': false } });
    expect(put.status).toBe(200);

    const id = await publish({ id: 'evt_push_muted', assigneeUserIds: ['u5'] });
    // Routed once its inbox row is written (the router writes it and records the event's other deliveries in one statement).
    await eventually(async () => (await env.db.$client`select 1 from notifications where event_id = ${id}`).length > 0);
    const other = await publish({ id: 'evt_push_other_type', type: 'scan_completed', assigneeUserIds: ['u5'] });
    await settledPushDeliveries(other);

    expect(await env.db.$client`select 1 from deliveries where event_id = ${id} and channel = 'push'`).toHaveLength(0);
    expect((await pushService.messages(device.clientHash)).map((m) => JSON.parse(m).eventId)).toEqual([other]);
  });

  it('sets urgency from the priority and TTL from both, a topic from the event id, and a VAPID signature', async () => {
    await subscribe('u6', { endpoint: `${receiver.origin}/ok/u6`, keys: browserKeys() });
    const urgent = await publish({ id: 'evt_push_urgent', severity: 'info', priority: 'urgent', assigneeUserIds: ['u6'] });
    await settledPushDeliveries(urgent);
    const info = await publish({ id: 'evt_push_info', severity: 'info', assigneeUserIds: ['u6'] });
    await settledPushDeliveries(info);
    const low = await publish({ id: 'evt_push_low', severity: 'critical', priority: 'low', assigneeUserIds: ['u6'] });
    await settledPushDeliveries(low);

    const [first, second, third] = receiver.requests.filter((r) => r.url === '/ok/u6');
    expect(first!.headers).toMatchObject({ urgency: 'high', ttl: '86400', topic: pushTopic(urgent), 'content-encoding': 'aes128gcm' });
    expect(first!.headers.authorization).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${vapid.publicKey}$`));
    expect(second!.headers).toMatchObject({ urgency: 'normal', ttl: '14400', topic: pushTopic(info) });
    expect(third!.headers).toMatchObject({ urgency: 'low', ttl: '86400', topic: pushTopic(low) });
  });

  it('retries a 429 after the Retry-After the push service asked for', async () => {
    await subscribe('u7', { endpoint: `${receiver.origin}/flaky/u7`, keys: browserKeys() });
    const id = await publish({ id: 'evt_push_429', assigneeUserIds: ['u7'] });

    const [delivery] = await settledPushDeliveries(id);
    expect(delivery).toMatchObject({ state: 'delivered', attempts: 2, last_error: null });
    const tries = receiver.requests.filter((r) => r.url === '/flaky/u7');
    expect(tries).toHaveLength(2);
    const attempts = await env.db.$client`select status_code, outcome, started_at from delivery_attempts where delivery_id = ${delivery!.id} order by attempt`;
    expect(attempts.map((a) => [a.status_code, a.outcome])).toEqual([
      [429, 'error'],
      [201, 'delivered'],
    ]);
    const gapMs = new Date(attempts[1]!.started_at).getTime() - new Date(attempts[0]!.started_at).getTime();
    expect(gapMs).toBeGreaterThanOrEqual(900);
  });

  it('fails a delivery with a clear reason when VAPID is not configured', async () => {
    await publish({ id: 'evt_push_unconfigured' });
    // Routed first: a routing run after the insert below would enqueue the row for the real
    // push worker (it enqueues every pending delivery of the event), which would send it.
    await eventually(async () => (await routedEventIds(env.db.$client, ['evt_push_unconfigured'])).length === 1);
    const [row] = await env.db.$client`
      insert into deliveries (event_id, tenant_id, channel, destination, user_id)
      values ('evt_push_unconfigured', 'acme', 'push', 'u1', 'u1') returning id`;
    const client = createOutboundClient({ allowHosts: env.config.OUTBOUND_ALLOW_HOSTS });
    try {
      const job = {
        payload: { deliveryId: row!.id, eventId: 'evt_push_unconfigured' },
        attempt: 1,
        run: { startedAt: new Date(), maxAttempts: 1 },
        signal: new AbortController().signal,
        logger: env.logger,
      };
      const attempt = deliver(job, { db: env.db, deliveries: createDeliveryStore(env.db), client, breakers: createBreakerRegistry(), templates: directSource(env.db), vapid: null });
      await expect(attempt).rejects.toBeInstanceOf(PermanentDeliveryError);
    } finally {
      client.close();
    }
    const [delivery] = await env.db.$client`select state, last_error from deliveries where id = ${row!.id}`;
    expect(delivery).toMatchObject({ state: 'failed' });
    expect(delivery!.last_error).toMatch(/Web Push is not configured.*VAPID_PUBLIC_KEY/);
  });
});

describe('push message', () => {
  const base = { title: 'Title', body: 'Body', url: 'https://app.example/x', eventId: 'evt_1', tag: 'herald:evt_1' };

  it('leaves a message that fits untouched', () => {
    expect(JSON.parse(encodePushMessage(base))).toEqual(base);
  });

  it('cuts the body first, then the title, then drops the link, never splitting a character', () => {
    const emoji = '🚨'.repeat(50);
    const bodyCut = JSON.parse(encodePushMessage({ ...base, body: emoji }, 200));
    expect(bodyCut.title).toBe('Title');
    expect(bodyCut.body).toMatch(/^(🚨)+…$/u);

    const titleCut = JSON.parse(encodePushMessage({ ...base, title: 'T'.repeat(300), body: 'B'.repeat(300) }, 200));
    expect(titleCut.body).toBe('');
    expect(titleCut.title).toMatch(/^T+…$/);
    expect(titleCut.url).toBe(base.url);

    const noLink = JSON.parse(encodePushMessage({ ...base, url: `https://app.example/${'p'.repeat(300)}` }, 200));
    expect(noLink.url).toBeNull();
    expect(noLink.eventId).toBe('evt_1');
    for (const json of [bodyCut, titleCut, noLink].map((m) => JSON.stringify(m))) expect(Buffer.byteLength(json)).toBeLessThanOrEqual(200);
  });

  it.each([
    // priority, severity → urgency (SPEC §3.1: from the priority alone), TTL
    ['urgent', null, 'high', 86_400],
    ['high', 'info', 'high', 86_400],
    ['normal', 'critical', 'normal', 86_400],
    ['normal', 'medium', 'normal', 86_400],
    ['normal', 'low', 'normal', 14_400],
    ['normal', null, 'normal', 14_400],
    ['low', 'urgent', 'low', 86_400],
    ['low', 'info', 'low', 14_400],
  ] as const)('priority %s, severity %s → urgency %s, TTL %i s', (priority, severity, urgency, ttlSeconds) => {
    expect(pushDeliveryOptions(priority, severity)).toEqual({ urgency, ttlSeconds });
  });

  it('derives a stable topic of at most 32 base64url characters from any event id', () => {
    const long = `evt_${'x'.repeat(190)}:with/odd chars`;
    expect(pushTopic(long)).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
    expect(pushTopic(long)).toBe(pushTopic(long));
    expect(pushTopic('evt_a')).not.toBe(pushTopic('evt_b'));
  });
});
