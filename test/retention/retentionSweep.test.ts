import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRetentionSweep } from '../../src/retention/retentionSweep.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/** SPEC §8.1: history past RETENTION_DAYS goes in small batches; unread notifications stay. */

let env: TestEnv;
let api: ApiClient;
let token: string;

const OLD = "now() - interval '100 days'";

beforeAll(async () => {
  env = await createTestEnv({ RETENTION_DAYS: '90' });
  const web = await env.startWeb();
  await env.startRouter();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['ana']);
  token = await env.userToken('ana', ['acme']);
});
afterAll(async () => {
  await env?.cleanup();
});

async function publish(ids: string[]): Promise<void> {
  const events = ids.map((id) => ({ id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['ana'] }));
  for (let i = 0; i < events.length; i += 500) expect((await api.post('/api/v1/events/batch', { events: events.slice(i, i + 500) })).status).toBe(200);
  // Routed to the end, marks included (they follow a pass's rows a moment later): the tests put events back in the outbox themselves.
  await eventually(async () => {
    const [row] = await env.db.$client`select (select count(*)::int from notifications where event_id = any(${ids})) as rows`;
    return row!.rows === ids.length && (await routedEventIds(env.db.$client, ids)).length === ids.length;
  }, 20_000);
}

async function idOf(eventId: string): Promise<string> {
  const [row] = await env.db.$client`select id::text from notifications where event_id = ${eventId}`;
  return row!.id as string;
}

/** The counts as the rows say, next to what inbox_counts keeps. */
async function countsAgree(): Promise<{ kept: unknown; actual: unknown }> {
  const kept = await env.db.$client`select tenant_id, unread, unseen from inbox_counts where user_id = 'ana' order by tenant_id`;
  const actual = await env.db.$client`
    select tenant_id, count(*) filter (where read_at is null)::int as unread, count(*) filter (where seen_at is null)::int as unseen
    from notifications where user_id = 'ana' and archived_at is null group by tenant_id order by tenant_id`;
  return { kept: [...kept], actual: [...actual] };
}

const exists = async (table: string, where: string) => (await env.db.$client.unsafe(`select count(*)::int as n from ${table} where ${where}`))[0]!.n as number;

describe('retention sweep', () => {
  it('deletes what is old and read, archived or finished, and keeps what is young or unread', async () => {
    await publish(['old_read', 'old_archived', 'old_unread', 'old_unrouted', 'young_read']);
    for (const eventId of ['old_read', 'young_read']) expect((await api.post(`/api/v1/notifications/${await idOf(eventId)}/read`, undefined, token)).status).toBeLessThan(300);
    expect((await api.post(`/api/v1/notifications/${await idOf('old_archived')}/archive`, undefined, token)).status).toBeLessThan(300);
    await env.db.$client.unsafe(`update notifications set created_at = ${OLD} where event_id like 'old_%'`);
    await env.db.$client.unsafe(`update events set accepted_at = ${OLD} where id like 'old_%'`);
    await env.db.$client.unsafe(`update deliveries set created_at = ${OLD} where event_id like 'old_%'`);
    await env.db.$client.unsafe(`insert into event_outbox (tenant_id, id, accepted_at) values ('acme', 'old_unrouted', ${OLD})`);
    // Deliveries of an old event: one finished with its attempts, one still waiting to be sent.
    await env.db.$client.unsafe(`
      insert into deliveries (event_id, tenant_id, channel, destination, state, created_at, updated_at) values
        ('old_read', 'acme', 'webhook', 'https://a.example/old-done', 'delivered', ${OLD}, ${OLD}),
        ('old_read', 'acme', 'webhook', 'https://a.example/old-pending', 'pending', ${OLD}, ${OLD}),
        ('young_read', 'acme', 'webhook', 'https://a.example/young-done', 'delivered', now(), now())`);
    await env.db.$client.unsafe(`
      insert into delivery_attempts (delivery_id, attempt, started_at, duration_ms, outcome)
      select id, n, created_at, 10, 'failed' from deliveries, generate_series(1, 3) as n where destination like 'https://a.example/%'`);
    // Digests: a closed one whose window ended long ago goes; an open one stays.
    await env.db.$client.unsafe(`
      insert into digests (tenant_id, rule_id, channel, destination, key_value, state, count, max_items, opened_at, closes_at, carrier_id) values
        ('acme', gen_random_uuid(), 'email', 'old-closed', '', 'closed', 2, 50, ${OLD}, ${OLD}, gen_random_uuid()),
        ('acme', gen_random_uuid(), 'email', 'old-open', '', 'open', 2, 50, ${OLD}, ${OLD}, gen_random_uuid())`);
    // A large fan-out's in-app batches: one written long ago goes; one still to write stays, and keeps its event.
    const recipients = JSON.stringify({ userIds: ['ana'], priorities: ['normal'], ruleIds: [null] });
    await env.db.$client.unsafe(`
      insert into inapp_batches (tenant_id, event_id, batch, priority, recipients, created_at, written_at) values
        ('acme', 'old_archived', 0, 'normal', '${recipients}', ${OLD}, ${OLD}),
        ('acme', 'old_unread', 0, 'normal', '${recipients}', ${OLD}, null)`);
    const before = await countsAgree();
    expect(before.kept).toEqual(before.actual);

    const counts = await createRetentionSweep({ db: env.db, logger: env.logger, retentionDays: 90, batchSize: 2, pauseMs: 0 }).sweep();

    // The old events' in-app deliveries are their inbox rows (src/deliveries/timeline.ts): the read
    // and archived ones went as notifications; of the deliveries, only the finished webhook.
    expect(counts).toMatchObject({ notifications: 2, deliveries: 1, attempts: 3, events: 1, digests: 1, inappBatches: 1 });
    expect(await exists('inapp_batches', "event_id = 'old_unread' and written_at is null")).toBe(1);
    expect(await exists('inapp_batches', "event_id = 'old_archived'")).toBe(0);
    expect(await exists('digests', "destination = 'old-open'")).toBe(1);
    expect(await exists('notifications', "event_id in ('old_read', 'old_archived')")).toBe(0);
    expect(await exists('notifications', "event_id in ('old_unread', 'old_unrouted', 'young_read')")).toBe(3);
    expect(await exists('events', "id = 'old_archived'")).toBe(0);
    // Unrouted, young, or with a delivery still to send (old_read's pending webhook renders it, old_unread's batch its rows): kept.
    expect(await exists('events', "id in ('old_unrouted', 'young_read', 'old_read', 'old_unread')")).toBe(4);
    expect(await exists('deliveries', "destination like 'https://a.example/%'")).toBe(2);
    expect(await exists('deliveries', "destination = 'https://a.example/old-done'")).toBe(0);
    expect(await exists('delivery_attempts', "delivery_id in (select id from deliveries where destination like 'https://a.example/%')")).toBe(6);
    // The counts did not move: nothing deleted was counted.
    const after = await countsAgree();
    expect(after.kept).toEqual(after.actual);
    expect(after.kept).toEqual(before.kept);
    // The inbox still pages, unread old row included.
    const page = await api.get('/api/v1/notifications?status=all&limit=100', token);
    expect(page.body.items.map((n: { eventId: string }) => n.eventId).sort()).toEqual(['old_unread', 'old_unrouted', 'young_read']);
  });

  it('skips a row another transaction holds instead of waiting for it, and takes it next time', async () => {
    await publish(['held_read']);
    expect((await api.post(`/api/v1/notifications/${await idOf('held_read')}/read`, undefined, token)).status).toBeLessThan(300);
    await env.db.$client.unsafe(`update notifications set created_at = ${OLD} where event_id = 'held_read'`);
    const sweep = createRetentionSweep({ db: env.db, logger: env.logger, retentionDays: 90 });
    // An inbox action in flight on that very row (its lock held open), while the sweep runs.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = env.db.$client.begin(async (tx) => {
      await tx`select id from notifications where event_id = 'held_read' for update`;
      locked();
      await released;
    });
    await isLocked;
    const started = performance.now();
    const whileHeld = await sweep.sweep();
    const sweptInMs = performance.now() - started;
    expect(await exists('notifications', "event_id = 'held_read'")).toBe(1);
    release();
    await holder;
    const afterwards = await sweep.sweep();
    expect(await exists('notifications', "event_id = 'held_read'")).toBe(0);
    expect(whileHeld.notifications).toBe(0);
    expect(afterwards.notifications).toBe(1);
    expect(sweptInMs).toBeLessThan(2_000);
  });

  it('never blocks an inbox page while it deletes thousands of rows', async () => {
    const ids = Array.from({ length: 3_000 }, (_, i) => `bulk_${i}`);
    await publish(ids);
    expect((await api.post('/api/v1/notifications/read-all', {}, token)).status).toBeLessThan(300);
    await env.db.$client.unsafe(`update notifications set created_at = ${OLD} where event_id like 'bulk_%'`);
    await env.db.$client.unsafe(`update events set accepted_at = ${OLD} where id like 'bulk_%'`);
    await env.db.$client.unsafe(`update deliveries set created_at = ${OLD} where event_id like 'bulk_%'`);

    const sweep = createRetentionSweep({ db: env.db, logger: env.logger, retentionDays: 90, batchSize: 200, pauseMs: 5 });
    let sweeping = true;
    const swept = sweep.sweep().finally(() => (sweeping = false));
    const pageTimes: number[] = [];
    while (sweeping) {
      const started = performance.now();
      const page = await api.get('/api/v1/notifications?limit=20', token);
      pageTimes.push(performance.now() - started);
      expect(page.status).toBe(200);
    }
    const counts = await swept;
    // Read-all also read the old unread rows the first test kept: they go too.
    expect(await exists('notifications', "user_id = 'ana' and created_at < now() - interval '90 days'")).toBe(0);
    expect(counts.notifications).toBeGreaterThanOrEqual(3_000);
    expect(await exists('events', "id like 'bulk_%'")).toBe(0);
    expect(counts.events).toBeGreaterThanOrEqual(3_000);
    expect(pageTimes.length).toBeGreaterThan(1);
    expect(Math.max(...pageTimes)).toBeLessThan(1_000);
  });
});
