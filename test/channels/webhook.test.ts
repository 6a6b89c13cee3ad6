import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryGroupJobId, deliveryJobId, queueCatalog } from '../../src/queues/catalog.ts';
import { startWebhook } from '../../workers/roles/webhook.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { jobGroupOf } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import type { LocalServer } from '../outbound/localServer.ts';
import { startLocalServer } from '../outbound/localServer.ts';
import { capturingLogger, startScriptedReceiver, type ScriptedReceiver } from './receivers.ts';

const REQUEST_TIMEOUT_MS = 800;

let env: TestEnv;
let api: ApiClient;
let receiver: ScriptedReceiver;
let webhookQueue: Queue;
let groupQueue: Queue;
// Failure-heavy tests get receivers of their own, so their failures stay out of other tests' timing.
let hanging: LocalServer;
let dead: LocalServer;
const logs = capturingLogger();
const secrets: string[] = [];

beforeAll(async () => {
  receiver = await startScriptedReceiver();
  hanging = await startLocalServer(() => {});
  dead = await startLocalServer((_req, res) => {
    res.statusCode = 500;
    res.end('down');
  });
  env = await createTestEnv({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', OUTBOUND_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
  const web = await env.startWeb();
  await env.startRouter();
  await env.startRole((config) => startWebhook(config, logs.logger));
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1']);
  webhookQueue = new Queue('webhook', { connection: env.redis, prefix: env.config.REDIS_PREFIX });
  groupQueue = new Queue(queueCatalog.webhookGroup.name, { connection: env.redis, prefix: env.config.REDIS_PREFIX });
});
afterAll(async () => {
  await webhookQueue?.close();
  await groupQueue?.close();
  await env?.cleanup();
  await Promise.all([receiver?.close(), hanging?.close(), dead?.close()]);
});

/** A webhook rule; its URL path carries a token, as real receivers' URLs often do, so logs can be checked for it. */
async function webhookRule(eventType: string, url: string, severityFilter = ''): Promise<{ id: string; secret: string }> {
  const res = await api.post('/api/v1/rules', { tenantId: 'acme', eventType, channel: 'webhook', severityFilter, webhookUrl: url });
  expect(res.status).toBe(201);
  secrets.push(res.body.secret, new URL(url).pathname);
  return res.body;
}

async function publish(id: string, type: string, data: Record<string, unknown> = {}) {
  const res = await api.post('/api/v1/events', { id, tenantId: 'acme', type, severity: 'high', occurredAt: '2026-11-23T10:00:00Z', data });
  expect(res.status).toBe(202);
}

async function timeline(eventId: string): Promise<any[]> {
  const res = await api.get(`/api/v1/events/${eventId}/deliveries`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** The event's webhook deliveries, once every one of them satisfies `done`. */
async function webhooksWhen(eventId: string, done: (item: any) => boolean, timeoutMs = 10_000): Promise<any[]> {
  return eventually(async () => {
    const items = (await timeline(eventId)).filter((i) => i.channel === 'webhook');
    return items.length > 0 && items.every(done) ? items : null;
  }, timeoutMs);
}

const settled = (item: any) => item.state === 'delivered' || item.state === 'failed';

/** The BullMQ state of a delivery's job, once `wanted` accepts it. */
async function webhookJobState(deliveryId: string, wanted: (state: string) => boolean): Promise<string | null> {
  const job = await webhookQueue.getJob(deliveryJobId(deliveryId));
  const state = job ? await job.getState() : null;
  return state && wanted(state) ? state : null;
}

/** When a delivery's delayed job is due (BullMQ scores delayed jobs by due time × 4096); 0 when it is not delayed. */
async function heldUntil(deliveryId: string): Promise<number> {
  if (!(await webhookJobState(deliveryId, (state) => state === 'delayed'))) return 0;
  const score = await env.redis.zscore(`${env.config.REDIS_PREFIX}:webhook:delayed`, deliveryJobId(deliveryId));
  return Math.floor(Number(score) / 4096);
}

describe('webhook worker', () => {
  it('posts the SPEC envelope signed with the rule secret, webhook-id being the delivery id', async () => {
    const rule = await webhookRule('wh_signed', `${receiver.origin}/signed/tok-signed-4f2a`);
    await publish('evt_wh_signed', 'wh_signed', { title: 'SQL injection', url: 'https://app.example/f/1' });
    const [item] = await webhooksWhen('evt_wh_signed', settled);

    expect(item).toMatchObject({ channel: 'webhook', destination: `rule:${rule.id}`, state: 'delivered', attempts: 1, lastError: null });
    expect(item.attemptLog).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, outcome: 'delivered', error: null })]);
    const [request] = receiver.arrivals('/signed/tok-signed-4f2a');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.headers['webhook-id']).toBe(item.id);
    const verified = new Webhook(rule.secret).verify(request!.body, request!.headers as Record<string, string>);
    expect(verified).toEqual({
      id: 'evt_wh_signed',
      type: 'wh_signed',
      tenantId: 'acme',
      severity: 'high',
      occurredAt: '2026-11-23T10:00:00.000Z',
      data: { title: 'SQL injection', url: 'https://app.example/f/1' },
    });
    expect(() => new Webhook(rule.secret).verify(`${request!.body} `, request!.headers as Record<string, string>)).toThrow();
  });

  it('retries a 500 with the same webhook-id, each try signed again', async () => {
    const rule = await webhookRule('wh_flaky', `${receiver.origin}/flaky/tok-flaky-91c3`);
    receiver.script('/flaky/tok-flaky-91c3', { status: 500 });
    await publish('evt_wh_flaky', 'wh_flaky');
    const [item] = await webhooksWhen('evt_wh_flaky', settled, 15_000);

    expect(item).toMatchObject({ state: 'delivered', attempts: 2, lastError: null });
    expect(item.attemptLog.map((a: any) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, 'error'],
      [2, 200, 'delivered'],
    ]);
    expect(item.attemptLog[0].error).toMatch(/answered HTTP 500/);
    const requests = receiver.arrivals('/flaky/tok-flaky-91c3');
    expect(requests).toHaveLength(2);
    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([item.id]));
    for (const request of requests) expect(() => new Webhook(rule.secret).verify(request.body, request.headers as Record<string, string>)).not.toThrow();
  });

  it('waits as long as a 429 Retry-After asks before the next try', async () => {
    await webhookRule('wh_limited', `${receiver.origin}/limited/tok-limited-77d0`);
    receiver.script('/limited/tok-limited-77d0', { status: 429, headers: { 'retry-after': '1' } });
    await publish('evt_wh_limited', 'wh_limited');
    const [item] = await webhooksWhen('evt_wh_limited', settled, 15_000);

    expect(item.state).toBe('delivered');
    expect(item.attemptLog.map((a: any) => a.statusCode)).toEqual([429, 200]);
    const [first, second] = receiver.arrivals('/limited/tok-limited-77d0');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  it('times out a hanging receiver while another rule’s webhook for the same event is delivered', async () => {
    await webhookRule('wh_hang', `${hanging.origin}/hang/tok-hang-0b1e`);
    await webhookRule('wh_hang', `${receiver.origin}/fast/tok-fast-5e6f`, 'info');
    await publish('evt_wh_hang', 'wh_hang');

    const byDestination = async () => {
      const items = (await timeline('evt_wh_hang')).filter((i) => i.channel === 'webhook');
      return { fast: items.find((i) => i.attemptLog.some((a: any) => a.statusCode === 200)), stuck: items.find((i) => i.attemptLog.every((a: any) => a.statusCode !== 200)) };
    };
    const whileHanging = await eventually(async () => {
      const { fast, stuck } = await byDestination();
      return fast?.state === 'delivered' ? { fast, stuck } : null;
    });
    // Delivered while the other request was still open: the hanging one had not finished a try.
    expect(whileHanging.stuck).toMatchObject({ state: 'pending', attempts: 0 });

    const timedOut = await eventually(async () => {
      const { stuck } = await byDestination();
      return stuck && stuck.attempts >= 1 ? stuck : null;
    });
    expect(timedOut.state).toBe('pending');
    expect(timedOut.attemptLog[0]).toMatchObject({ statusCode: null, outcome: 'error' });
    expect(timedOut.attemptLog[0].error).toMatch(/timed out after 800 ms/);
    expect(timedOut.attemptLog[0].durationMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
  });

  it('fails a 404 at once: one attempt, no retry', async () => {
    await webhookRule('wh_gone', `${receiver.origin}/gone/tok-gone-3a9d`);
    receiver.script('/gone/tok-gone-3a9d', { status: 404, body: 'no such hook' });
    await publish('evt_wh_gone', 'wh_gone');
    const [item] = await webhooksWhen('evt_wh_gone', settled);

    expect(item).toMatchObject({ state: 'failed', attempts: 1 });
    expect(item.lastError).toMatch(/answered HTTP 404: no such hook/);
    expect(item.attemptLog).toEqual([expect.objectContaining({ statusCode: 404, outcome: 'failed' })]);
    // Its group's job is done and it was handed to no job of its own, so no later post can come.
    const group = (await jobGroupOf(env.db.$client, item.id))!;
    expect(await eventually(async () => ((await (await groupQueue.getJob(deliveryGroupJobId(group)))?.getState()) === 'completed' ? 'completed' : null))).toBe('completed');
    expect(await webhookQueue.getJob(deliveryJobId(item.id))).toBeUndefined();
    expect(receiver.arrivals('/gone/tok-gone-3a9d')).toHaveLength(1);
  });

  it('fails at once when the stored URL is one the policy refuses, without calling it', async () => {
    const rule = await webhookRule('wh_refused', `${receiver.origin}/refused/tok-refused-c4c4`);
    // Saved before the policy tightened: the API would refuse it today, the worker must too.
    await env.db.$client`update rules set webhook_url = 'http://10.0.0.7/refused/tok-refused-c4c4' where id = ${rule.id}`;
    await publish('evt_wh_refused', 'wh_refused');
    const [item] = await webhooksWhen('evt_wh_refused', settled);

    expect(item).toMatchObject({ state: 'failed', attempts: 1 });
    expect(item.lastError).toMatch(/^refused http:\/\/10\.0\.0\.7\/…: URL must use https/);
    expect(receiver.arrivals('/refused/tok-refused-c4c4')).toHaveLength(0);
  });

  it('opens the breaker after 5 consecutive failures and then delays jobs without spending attempts', async () => {
    await webhookRule('wh_dead', `${dead.origin}/dead/tok-dead-e1e1`);
    for (let i = 0; i < 5; i++) await publish(`evt_wh_dead_${i}`, 'wh_dead');
    await eventually(async () => dead.requests.length >= 5);

    await publish('evt_wh_dead_late', 'wh_dead');
    const [late] = await eventually(async () => {
      const items = (await timeline('evt_wh_dead_late')).filter((i) => i.channel === 'webhook');
      return items.length === 1 ? items : null;
    });
    // Every job of the dead receiver — the five failed ones once their retry (2.5-5 s later) meets
    // the open breaker, and the late one at once — ends up held until the breaker half-opens,
    // about 60 s after it opened. Until then none can post, so the count below is final.
    const rows = await env.db.$client`select id from deliveries where channel = 'webhook' and event_id like 'evt_wh_dead_%'`;
    expect(rows).toHaveLength(6);
    await eventually(async () => {
      for (const row of rows) if ((await heldUntil(row.id as string)) < Date.now() + 50_000) return false;
      return true;
    }, 15_000);
    expect(dead.requests).toHaveLength(5);
    const [still] = (await timeline('evt_wh_dead_late')).filter((i) => i.channel === 'webhook');
    expect(still).toMatchObject({ id: late.id, state: 'pending', attempts: 0 });
  });

  it('keeps another tenant’s URL on the same host flowing while one URL’s breaker is open (SPEC §7.1)', async () => {
    // Two tenants' endpoints on one host, as Logic Apps of one Azure region or Slack hooks are.
    receiver.script('/tenant-a/failing-c9c9', ...Array.from({ length: 50 }, () => ({ status: 500 })));
    await webhookRule('wh_shared_a', `${receiver.origin}/tenant-a/failing-c9c9`);
    await webhookRule('wh_shared_b', `${receiver.origin}/tenant-b/healthy-d0d0`);
    for (let i = 0; i < 5; i++) await publish(`evt_shared_a_${i}`, 'wh_shared_a');
    await eventually(async () => receiver.arrivals('/tenant-a/failing-c9c9').length >= 5);
    // A's breaker is open: its next delivery waits without being tried.
    await publish('evt_shared_a_late', 'wh_shared_a');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const [held] = (await timeline('evt_shared_a_late')).filter((i) => i.channel === 'webhook');
    expect(held).toMatchObject({ state: 'pending', attempts: 0 });

    await publish('evt_shared_b', 'wh_shared_b');
    await eventually(async () => receiver.arrivals('/tenant-b/healthy-d0d0').length === 1, 5_000);
    const [delivered] = await eventually(async () => {
      const items = (await timeline('evt_shared_b')).filter((i) => i.channel === 'webhook' && i.state === 'delivered');
      return items.length === 1 ? items : null;
    });
    expect(delivered).toMatchObject({ attempts: 1 });
  });

  it('never logs a webhook URL path or signing secret', () => {
    const text = logs.lines.join('\n');
    expect(text).toContain('delivered');
    expect(text).toContain('http://127.0.0.1');
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
