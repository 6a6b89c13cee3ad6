import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createInappReceipts, receiptUpdate } from '../../src/realtime/inappReceipts.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

/** A plan node of EXPLAIN (FORMAT JSON), with the fields the test reads. */
type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Actual Loops'?: number; Plans?: PlanNode[] };
const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

const receiptsFor = (eventIds: string[]) => eventIds.map((eventId, i) => ({ tenantId: 'acme', eventId, userId: `u${i % 50}` }));
const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

/**
 * Deliveries as a busy inbox leaves them: statistics taken when nearly every in-app delivery
 * was delivered, then `count` new ones sent since (the receipts the next flush carries).
 */
async function sentAfterAnalyze(prefix: string, count: number): Promise<string[]> {
  const insert = (eventIds: string[], state: string) =>
    env.db.$client`
      insert into deliveries (tenant_id, event_id, channel, destination, user_id, state)
      select 'acme', e, 'inapp', 'u' || ((n - 1) % 50), 'u' || ((n - 1) % 50), ${state}
      from unnest(${eventIds}::text[]) with ordinality as x(e, n)`;
  await insert(ids(`${prefix}_old_`, 5_000), 'delivered');
  await env.db.$client`analyze deliveries`;
  const sent = ids(`${prefix}_new_`, count);
  await insert(sent, 'sent');
  return sent;
}

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.cleanup());

it('marks the carried in-app deliveries delivered, once, and ignores receipts with no delivery', async () => {
  const sent = await sentAfterAnalyze('a', 300);
  const receipts = createInappReceipts(env.db, env.logger, 60_000);
  for (const r of receiptsFor(sent.slice(0, 200))) receipts.record(r.tenantId, r.eventId, r.userId);
  receipts.record('acme', 'no_such_event', 'u1');
  // A receipt for a row already delivered (a replayed frame) changes nothing of it.
  receipts.record('acme', 'a_old_7', 'u7');
  const [before] = await env.db.$client<{ delivered_at: Date }[]>`select delivered_at from deliveries where event_id = 'a_old_7'`;
  await receipts.close();

  const states = await env.db.$client<{ state: string; n: number }[]>`
    select state, count(*)::int as n from deliveries where event_id = any(${sent}::text[]) group by state order by state`;
  expect(states).toEqual([
    { state: 'delivered', n: 200 },
    { state: 'sent', n: 100 },
  ]);
  const [after] = await env.db.$client<{ delivered_at: Date }[]>`select delivered_at from deliveries where event_id = 'a_old_7'`;
  expect(after!.delivered_at).toEqual(before!.delivered_at);
});

it('finds each receipt by the unique index, whatever the statistics say, instead of scanning deliveries', async () => {
  const sent = await sentAfterAnalyze('b', 500);
  const [row] = await env.db.execute<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(sql`explain (analyze, format json) ${receiptUpdate(receiptsFor(sent))}`);
  const nodes = nodesOf(row!['QUERY PLAN'][0].Plan);
  // The plan a join of receipts and deliveries got from these statistics scanned every row
  // and parsed the receipts' JSON once per row kept: 500 × 500 comparisons for 500 receipts.
  expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'deliveries')).toEqual([]);
  expect(nodes.filter((n) => n['Node Type'] === 'Function Scan').map((n) => n['Actual Loops'])).toEqual([1]);
  const [delivered] = await env.db.$client<{ n: number }[]>`select count(*)::int as n from deliveries where event_id = any(${sent}::text[]) and state = 'delivered'`;
  expect(delivered!.n).toBe(500);
});
