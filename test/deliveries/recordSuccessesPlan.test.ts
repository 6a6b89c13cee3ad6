import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDeliveryStore,
  loadDeliveriesQuery,
  recordSuccessesStatement,
  type AttemptRecord,
} from '../../src/deliveries/deliveryStore.ts';
import { accessPaths, executedGenericPlan, executedPlan, rowsRead, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['deliveries', 'delivery_attempts']);
  await env.db.$client`insert into tenants (id, name) values ('acme', 'Acme')`;
  await env.db.$client`insert into events (id, tenant_id, type, envelope, occurred_at) values ('e1', 'acme', 'deploy_finished', '{}', now())`;
});
afterAll(() => env?.cleanup());

const BACKLOG = 30_000;
/** What a busy worker records at once: the webhook bench's records carried ~16 sends each. */
const BATCH = 16;

const success = (deliveryId: string, outcome: AttemptRecord['outcome'] = 'delivered'): AttemptRecord => ({
  deliveryId,
  attempt: 1,
  startedAt: new Date(),
  durationMs: 12,
  statusCode: outcome === 'delivered' ? 204 : null,
  outcome,
  error: outcome === 'sent' ? '250 OK: queued as "A1,B2" {x}' : null,
});

/**
 * A deployment's delivery table: a backlog of webhooks pending, failed and delivered (a receiver
 * down for a while), then — after the statistics if `analyze` — an email digest's carrier with
 * the three members it carries, and webhooks: a batch to record.
 */
async function busyTable(prefix: string, analyze: boolean) {
  const pg = env.db.$client;
  await pg`
    insert into deliveries (event_id, tenant_id, channel, destination, state)
    select 'e1', 'acme', 'webhook', ${prefix} || '_backlog_' || n, (array['pending', 'failed', 'delivered'])[1 + n % 3]
    from generate_series(1, ${BACKLOG}) as n`;
  if (analyze) await pg`analyze deliveries`;
  const [carrier] = await pg<{ id: string }[]>`
    insert into deliveries (event_id, tenant_id, channel, destination, state) values ('e1', 'acme', 'email', ${`${prefix}_carrier`}, 'pending') returning id`;
  await pg`
    insert into deliveries (event_id, tenant_id, channel, destination, state, carried_by)
    select 'e1', 'acme', 'email', ${prefix} || '_member_' || n, 'scheduled', ${carrier!.id}::uuid from generate_series(1, 3) as n`;
  const webhooks = await pg<{ id: string }[]>`
    insert into deliveries (event_id, tenant_id, channel, destination, state)
    select 'e1', 'acme', 'webhook', ${prefix} || '_hook_' || lpad(n::text, 2, '0'), 'pending' from generate_series(1, ${BATCH - 1}) as n returning id`;
  return { carrierId: carrier!.id, webhookIds: webhooks.map((w) => w.id) };
}

const statesOf = (prefix: string) =>
  env.db.$client<{ destination: string; state: string; attempts: number; delivered: boolean; sent: boolean }[]>`
    select destination, state, attempts, delivered_at is not null as delivered, sent_at is not null as sent
    from deliveries where destination like ${`${prefix}\\_%`} and destination not like ${`${prefix}\\_backlog\\_%`} order by destination`;

// A new install: the first statements are planned while the tables hold a row or two, and a
// generic plan is kept until an ANALYZE. Planned so, it scanned the tables whole, which is cheapest
// for a page, and went on scanning them as they grew (GENERIC_PLAN_SETTINGS). Runs first, on the
// file's still nearly empty tables.
describe('the delivery workers’ generic plans made while the tables were nearly empty (statistics: settled)', () => {
  it('load and record a batch by key all the same', async () => {
    const pg = env.db.$client;
    const rows = await pg<{ id: string }[]>`
      insert into deliveries (event_id, tenant_id, channel, destination, state)
      select 'e1', 'acme', 'webhook', 'new_' || n, 'pending' from generate_series(1, 2) as n returning id`;
    await pg`analyze deliveries, delivery_attempts, events, rules, users, teams`;
    const ids = rows.map((r) => r.id);
    const load = await executedGenericPlan(env.db, loadDeliveriesQuery(env.db).getSQL(), { placeholders: { ids } });
    for (const table of ['deliveries', 'events', 'rules', 'users', 'teams']) expect(accessPaths(load, table)).not.toContain('Seq Scan');
    const record = await executedGenericPlan(env.db, recordSuccessesStatement(ids.map((id) => success(id))));
    expect(accessPaths(record, 'deliveries')).not.toContain('Seq Scan');
    expect(new Set((await pg<{ state: string }[]>`select state from deliveries where id = any(${ids}::uuid[])`).map((r) => r.state))).toEqual(new Set(['delivered']));
  });
});

// Every grouped record of successful sends also moves the digest members the sends carried.
// Joined with the batch, that update was planned as a hash of every delivery still pending,
// scheduled or failed when the table's statistics were missing or out of date: each record of a
// busy worker then read the whole deliveries table.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'settled', analyze: true },
])('recording successful sends reads only their deliveries and the members they carry (statistics: $statistics)', ({ analyze }) => {
  it('records each try, moves each delivery and its carried members to the outcome, and probes them by key', async () => {
    const p = analyze ? 'a' : 'b';
    const first = await busyTable(`${p}1`, analyze);
    const store = createDeliveryStore(env.db);
    await Promise.all([store.recordSuccess(success(first.carrierId, 'sent')), ...first.webhookIds.map((id) => store.recordSuccess(success(id)))]);

    expect(await statesOf(`${p}1`)).toEqual([
      { destination: `${p}1_carrier`, state: 'sent', attempts: 1, delivered: false, sent: true },
      ...first.webhookIds.map((_, i) => ({ destination: `${p}1_hook_${String(i + 1).padStart(2, '0')}`, state: 'delivered', attempts: 1, delivered: true, sent: true })),
      ...[1, 2, 3].map((n) => ({ destination: `${p}1_member_${n}`, state: 'sent', attempts: 0, delivered: false, sent: true })),
    ]);
    const [logged] = await env.db.$client<{ n: number; receipt: string }[]>`
      select count(*)::int as n, max(error) as receipt from delivery_attempts where delivery_id = any(${[first.carrierId, ...first.webhookIds]}::uuid[])`;
    expect(logged).toEqual({ n: BATCH, receipt: '250 OK: queued as "A1,B2" {x}' });

    const second = await busyTable(`${p}2`, false);
    const plan = await executedPlan(env.db, recordSuccessesStatement([second.carrierId, ...second.webhookIds].map((id) => success(id))));
    expect(accessPaths(plan, 'deliveries')).not.toContain('Seq Scan');
    // Each delivery by id, a probe of the carried_by index for each (EXPLAIN gives a probe's rows
    // per loop, rounded: the carrier's three members over 16 loops read as 16), each member once more to update it.
    expect(rowsRead(plan, 'deliveries')).toBeLessThanOrEqual(BATCH + BATCH + 3);
    expect(new Set((await statesOf(`${p}2`)).map((row) => row.state))).toEqual(new Set(['delivered']));
  });
});

// The delivery workers' sessions plan each statement once (GENERIC_PLAN_SETTINGS): the plan
// made for the first call is the one every later call runs, whatever the batch, so it must fetch
// by key for any table — here one planned before any statistics, on the same busy table.
describe('the delivery workers’ generic plans fetch by key (statistics: none taken yet)', () => {
  it('records a batch by the deliveries’ keys and their members’ carried_by probes', async () => {
    const { carrierId, webhookIds } = await busyTable('g1', false);
    const plan = await executedGenericPlan(env.db, recordSuccessesStatement([carrierId, ...webhookIds].map((id) => success(id))));
    expect(accessPaths(plan, 'deliveries')).not.toContain('Seq Scan');
    expect(rowsRead(plan, 'deliveries')).toBeLessThanOrEqual(BATCH + BATCH + 3);
    expect(new Set((await statesOf('g1')).map((row) => row.state))).toEqual(new Set(['delivered']));
  });

  it('loads a batch by the deliveries’ keys, with their events, rules, people and teams by theirs', async () => {
    const { carrierId, webhookIds } = await busyTable('g2', false);
    const plan = await executedGenericPlan(env.db, loadDeliveriesQuery(env.db).getSQL(), { placeholders: { ids: [carrierId, ...webhookIds] } });
    expect(accessPaths(plan, 'deliveries')).toEqual(['Index Scan using deliveries_pkey']);
    expect(rowsRead(plan, 'deliveries')).toBe(BATCH);
    for (const table of ['events', 'rules', 'users', 'teams']) expect(accessPaths(plan, table)).not.toContain('Seq Scan');
  });
});
