import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inappBatchesOf, recordBatchesStatement } from '../../src/inbox/inappBatches.ts';
import { retryJobId } from '../../src/queues/catalog.ts';
import { startWebhook } from '../../workers/roles/webhook.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { startScriptedReceiver, type ScriptedReceiver } from '../channels/receivers.ts';

let env: TestEnv;
let api: ApiClient;
let receiver: ScriptedReceiver;

const RETRY_PATH = '/retry/tok-retry-8d8d';

beforeAll(async () => {
  receiver = await startScriptedReceiver();
  env = await createTestEnv({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1' });
  const web = await env.startWeb();
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startWebhook);
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1']);
  await seedDirectory(api, 'globex', ['g1']);
  const rule = (eventType: string, path: string) =>
    api.post('/api/v1/rules', { tenantId: 'acme', eventType, channel: 'webhook', webhookUrl: receiver.origin + path });
  expect((await rule('timeline_test', '/timeline/tok-timeline-1c1c')).status).toBe(201);
  expect((await rule('retry_test', RETRY_PATH)).status).toBe(201);

  const published = await api.post('/api/v1/events/batch', {
    events: [
      { id: 'evt_timeline', tenantId: 'acme', type: 'timeline_test', assigneeUserIds: ['u1', 'ghost'] },
      { id: 'evt_globex', tenantId: 'globex', type: 'timeline_test', assigneeUserIds: ['g1'] },
    ],
  });
  expect(published.body.results.map((r: any) => r.status)).toEqual(['accepted', 'accepted']);
});
afterAll(async () => {
  await env?.cleanup();
  await receiver?.close();
});

async function timeline(eventId: string, token?: string | null) {
  return api.get(`/api/v1/events/${eventId}/deliveries`, token);
}

async function settledTimeline(eventId: string): Promise<any[]> {
  return eventually(async () => {
    const items = (await timeline(eventId)).body.items as any[] | undefined;
    return items && items.length > 0 && items.every((i) => i.state !== 'pending') ? items : null;
  });
}

describe('GET /api/v1/events/:id/deliveries', () => {
  it('lists every channel’s deliveries with their attempts, skipped recipients included, and no URL', async () => {
    const items = await settledTimeline('evt_timeline');
    const byKey = Object.fromEntries(items.map((i) => [`${i.channel}:${i.destination}`, i]));
    expect(Object.keys(byKey).sort()).toEqual(['inapp:ghost', 'inapp:u1', expect.stringMatching(/^webhook:rule:[0-9a-f-]{36}$/)]);

    expect(byKey['inapp:ghost']).toMatchObject({ state: 'skipped', lastError: 'no such user', attempts: 0, attemptLog: [] });
    expect(byKey['inapp:u1']).toMatchObject({ state: 'sent', lastError: null, attempts: 1 });
    const webhook = items.find((i) => i.channel === 'webhook');
    expect(webhook).toMatchObject({ state: 'delivered', attempts: 1, lastError: null });
    expect(webhook.attemptLog).toEqual([
      { attempt: 1, startedAt: expect.any(String), durationMs: expect.any(Number), statusCode: 200, outcome: 'delivered', error: null },
    ]);
    for (const item of items) {
      expect(Object.keys(item)).toEqual(expect.arrayContaining(['id', 'channel', 'destination', 'state', 'attempts', 'lastError', 'createdAt', 'updatedAt']));
      if (item === byKey['inapp:u1']) {
        // A small fan-out's in-app delivery is its inbox row: its line's id is a version 8 UUID that carries the row's id.
        expect(item.id).toMatch(/^00000000-0000-8000-8000-[0-9a-f]{12}$/);
        expect(item).toMatchObject({ sentAt: item.createdAt, deliveredAt: null, failedAt: null, attemptLog: [] });
      } else {
        // Routed deliveries take version 7 keys (drizzle/0012), time first: see test/db/deliveryKeys.test.ts.
        expect(item.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      }
    }
    expect(JSON.stringify(items)).not.toContain(receiver.origin);
  });

  it('is for admins of the event’s tenant only', async () => {
    await settledTimeline('evt_globex');
    expect((await timeline('evt_globex', ACME_KEY)).status).toBe(404);
    expect((await timeline('evt_nope')).status).toBe(404);
    expect((await timeline('evt_timeline', null)).status).toBe(401);
    expect((await timeline('evt_timeline', await env.userToken('u1', ['acme']))).status).toBe(403);
    expect((await timeline('evt_timeline', await env.userToken('boss', ['acme'], 'admin'))).status).toBe(200);
    expect((await timeline('evt_globex', await env.userToken('boss', ['acme'], 'admin'))).status).toBe(404);
  });
});

describe('POST /api/v1/deliveries/:id/retry', () => {
  it('re-sends a failed webhook with the same webhook-id, and answers 409 once it is no longer failed', async () => {
    receiver.script(RETRY_PATH, { status: 410 });
    expect((await api.post('/api/v1/events', { id: 'evt_retry', tenantId: 'acme', type: 'retry_test' })).status).toBe(202);
    const [failed] = (await settledTimeline('evt_retry')).filter((i) => i.channel === 'webhook');
    expect(failed).toMatchObject({ state: 'failed', attempts: 1 });

    const retried = await api.post(`/api/v1/deliveries/${failed.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ id: failed.id, state: 'pending' });
    const [delivered] = (await settledTimeline('evt_retry')).filter((i) => i.channel === 'webhook');
    expect(delivered).toMatchObject({ state: 'delivered', attempts: 2, lastError: null });
    expect(delivered.attemptLog.map((a: any) => a.statusCode)).toEqual([410, 200]);

    const requests = receiver.arrivals(RETRY_PATH);
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => r.headers['webhook-id'])).toEqual([failed.id, failed.id]);

    const again = await api.post(`/api/v1/deliveries/${failed.id}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
  });

  it('refuses in-app deliveries, and hides unknown ids and other tenants’ deliveries', async () => {
    const items = await settledTimeline('evt_timeline');
    const inapp = items.find((i) => i.channel === 'inapp' && i.state === 'sent');
    expect((await api.post(`/api/v1/deliveries/${inapp.id}/retry`)).status).toBe(409);
    const skipped = items.find((i) => i.state === 'skipped');
    expect((await api.post(`/api/v1/deliveries/${skipped.id}/retry`)).status).toBe(409);

    const globex = (await settledTimeline('evt_globex'))[0];
    expect((await api.post(`/api/v1/deliveries/${globex.id}/retry`, undefined, ACME_KEY)).status).toBe(404);
    expect((await api.post('/api/v1/deliveries/00000000-0000-4000-8000-000000000000/retry')).status).toBe(404);
    // An in-app line's id with no inbox row behind it.
    expect((await api.post('/api/v1/deliveries/00000000-0000-8000-8000-0000ffffffff/retry')).status).toBe(404);
    expect((await api.post('/api/v1/deliveries/not-a-uuid/retry')).status).toBe(404);
    expect((await api.post(`/api/v1/deliveries/${inapp.id}/retry`, undefined, await env.userToken('u1', ['acme']))).status).toBe(403);

    // A large fan-out's person whose row is still to be written (as a recorded in-app batch leaves
    // them): a pending line, refused like any in-app delivery, and hidden from another tenant.
    await env.db.execute(recordBatchesStatement(inappBatchesOf({ tenantId: 'globex', id: 'evt_globex' }, [{ destination: 'g_waiting', priority: 'normal' }]), null));
    const waiting = (await timeline('evt_globex')).body.items.find((i: { destination: string }) => i.destination === 'g_waiting');
    expect(waiting).toMatchObject({ channel: 'inapp', state: 'pending', attempts: 0 });
    expect((await api.post(`/api/v1/deliveries/${waiting.id}/retry`)).status).toBe(409);
    expect((await api.post(`/api/v1/deliveries/${waiting.id}/retry`, undefined, ACME_KEY)).status).toBe(404);
  });

  it('re-queues failed deliveries of every queued channel, each retry under a job id of its own', async () => {
    const failedAt = new Date('2026-11-23T10:05:00Z');
    const rows = await env.db.$client<{ id: string; channel: string; attempts: number }[]>`
      insert into deliveries (event_id, tenant_id, channel, destination, user_id, state, attempts, last_error, failed_at)
      values ('evt_timeline', 'acme', 'email', 'u1@acme.example', 'u1', 'failed', 8, 'relay said 550', ${failedAt.toISOString()}),
             ('evt_timeline', 'acme', 'push', 'u1', 'u1', 'failed', 6, 'endpoint gone', ${failedAt.toISOString()}),
             ('evt_timeline', 'acme', 'teams', 'team:ops', null, 'failed', 8, 'HTTP 500', ${failedAt.toISOString()})
      returning id, channel, attempts`;
    for (const row of rows) {
      const res = await api.post(`/api/v1/deliveries/${row.id}/retry`);
      expect(res.status, row.channel).toBe(202);
      const queueName = row.channel === 'teams' ? 'chat' : row.channel;
      const queue = new Queue(queueName, { connection: env.redis, prefix: env.config.REDIS_PREFIX });
      try {
        const job = await queue.getJob(retryJobId({ id: row.id, attempts: row.attempts, failedAt }));
        expect(job?.data, row.channel).toEqual({ deliveryId: row.id, eventId: 'evt_timeline' });
      } finally {
        await queue.close();
      }
      expect((await api.post(`/api/v1/deliveries/${row.id}/retry`)).status).toBe(409);
    }
    const states = await env.db.$client`select state, failed_at from deliveries where id = any(${rows.map((r) => r.id)})`;
    expect(states.every((s) => s.state === 'pending' && s.failed_at === null)).toBe(true);
  });
});
