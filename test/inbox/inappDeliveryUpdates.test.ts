import type { SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markInappRefusedStatement, markInappSentStatement } from '../../src/inbox/inboxWriter.ts';
import { createInappReceipts, receiptUpdate } from '../../src/realtime/inappReceipts.ts';
import { eventually } from '../helpers/api.ts';
import { accessPaths, executedPlan, inputWalks, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['deliveries']);
});
afterAll(() => env?.cleanup());

const USERS = 50;
const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
const userOf = (i: number) => `u${i % USERS}`;
const pairsOf = (eventIds: string[]) => ({ tenantIds: eventIds.map(() => 'acme'), eventIds, userIds: eventIds.map((_, i) => userOf(i)) });

async function insertInapp(eventIds: string[], state: string): Promise<void> {
  await env.db.$client`
    insert into deliveries (tenant_id, event_id, channel, destination, user_id, state)
    select 'acme', e, 'inapp', 'u' || ((n - 1) % ${USERS}), 'u' || ((n - 1) % ${USERS}), ${state}
    from unnest(${eventIds}::text[]) with ordinality as x(e, n)`;
}

/**
 * Deliveries as a busy inbox leaves them: `settledCount` (5,000) in-app deliveries `settled`
 * (delivered, say), then `count` more written in `state` since — those the next statement marks.
 * With `analyze`, statistics are taken in between (they say nearly every in-app delivery is
 * settled); without, the table has none (a young deployment's before autovacuum's first look).
 */
async function writtenSince(prefix: string, settled: string, state: string, count: number, analyze: boolean, settledCount = 5_000): Promise<string[]> {
  await insertInapp(ids(`${prefix}_old_`, settledCount), settled);
  if (analyze) await env.db.$client`analyze deliveries`;
  const fresh = ids(`${prefix}_new_`, count);
  await insertInapp(fresh, state);
  return fresh;
}

/** Runs `statement` under EXPLAIN ANALYZE: how it reached deliveries' rows, and how often it walked its input. */
async function executionOf(statement: SQL): Promise<{ deliveriesAccess: string[]; inputWalks: number[] }> {
  const nodes = await executedPlan(env.db, statement);
  return { deliveriesAccess: accessPaths(nodes, 'deliveries'), inputWalks: inputWalks(nodes) };
}

/** Each pair's probe of the unique index, and the fetches by primary key that may follow (an index or a bitmap of it). */
const PROBE = 'Index Scan using deliveries_event_channel_destination_uq';
const BY_KEY = [PROBE, 'Index Scan using deliveries_pkey', 'Bitmap Heap Scan using deliveries_pkey'];

const stateCounts = (eventIds: string[]) =>
  env.db.$client<{ state: string; n: number }[]>`
    select state, count(*)::int as n from deliveries where event_id = any(${eventIds}::text[]) group by state order by state`;

// Statements that joined their pairs with deliveries got their plan from the statistics: with
// nearly every in-app delivery settled, they read every row in the marked state (a fan-out's
// in-app batch of 1,000 read all 10,000 pending) or scanned the table and walked the pairs again
// for each row kept (the receipts: 1,000 × 1,000 comparisons); updating by `id = any(…)` walked
// the partial index of pending rows once per id. Each pair now probes the unique index and each
// row is fetched by its primary key: nothing else touches deliveries, whatever the statistics.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'taken while nearly every in-app delivery was settled', analyze: true },
])('statements that mark in-app deliveries read only their own rows (statistics: $statistics)', ({ analyze }) => {
  const reasonOf = (i: number) => `reason ${i}`;
  it.each([
    {
      statement: 'receipts (sent → delivered)',
      settled: 'delivered',
      from: 'sent',
      to: 'delivered',
      mark: (marked: string[]) => receiptUpdate(marked.map((eventId, i) => ({ tenantId: 'acme', eventId, userId: userOf(i) }))),
    },
    { statement: 'a large fan-out’s in-app batch (pending → sent)', settled: 'sent', from: 'pending', to: 'sent', mark: (marked: string[]) => markInappSentStatement(pairsOf(marked)) },
    {
      statement: 'refused content (pending → failed, each with its reason)',
      settled: 'sent',
      from: 'pending',
      to: 'failed',
      mark: (marked: string[]) => markInappRefusedStatement(marked.map((id, i) => ({ event: { tenantId: 'acme', id }, userId: userOf(i), reason: reasonOf(i) }))),
    },
  ])('$statement', async ({ settled, from, to, mark }) => {
    const fresh = await writtenSince(`${analyze ? 's' : 'n'}${to}`, settled, from, 1_000, analyze);
    const marked = fresh.slice(0, 100);
    const run = await executionOf(mark(marked));
    expect(run.deliveriesAccess).toContain(PROBE);
    expect(run.deliveriesAccess.filter((path) => !BY_KEY.includes(path))).toEqual([]);
    expect(run.inputWalks).toEqual([1]);
    const rows = await env.db.$client<{ event_id: string; state: string; last_error: string | null }[]>`
      select event_id, state, last_error from deliveries where event_id = any(${fresh}::text[])`;
    const changed = rows.filter((row) => row.state === to);
    expect(new Set(changed.map((row) => row.event_id))).toEqual(new Set(marked));
    expect(rows.filter((row) => row.state === from)).toHaveLength(fresh.length - marked.length);
    // A refusal records each delivery's own reason.
    if (to === 'failed') expect(changed.map((row) => row.last_error)).toEqual(changed.map((row) => reasonOf(marked.indexOf(row.event_id))));
  });
});

describe('live receipts', () => {
  it('mark the carried in-app deliveries delivered, once, and ignore receipts with no delivery', async () => {
    const sent = await writtenSince('live', 'delivered', 'sent', 300, true);
    const receipts = createInappReceipts(env.db, env.logger, 60_000);
    sent.slice(0, 200).forEach((eventId, i) => receipts.record('acme', eventId, userOf(i)));
    receipts.record('acme', 'no_such_event', 'u1');
    // A receipt for a row already delivered (a frame replayed) leaves it as it was.
    receipts.record('acme', 'live_old_7', 'u7');
    const deliveredAt = () => env.db.$client<{ delivered_at: Date | null }[]>`select delivered_at from deliveries where event_id = 'live_old_7'`;
    const before = await deliveredAt();
    await receipts.close();

    expect(await stateCounts(sent)).toEqual([
      { state: 'delivered', n: 200 },
      { state: 'sent', n: 100 },
    ]);
    expect(await deliveredAt()).toEqual(before);
  });

  it('lands when the in-app worker marks the same rows sent at the same moment', async () => {
    // A receipt can arrive before the worker has marked its row sent (it marks after the frames
    // are out): the receipt's UPDATE waits for the worker's row locks, then must still find the
    // row, now in a new version at a new place in the table (a join on ctid lost it).
    const pending = ids('race_', 50);
    await insertInapp(pending, 'pending');
    const worker = await env.db.$client.reserve();
    try {
      await worker`begin`;
      await worker`update deliveries set state = 'sent', sent_at = now() where event_id = any(${pending}::text[])`;
      const receipts = createInappReceipts(env.db, env.logger, 60_000);
      pending.forEach((eventId, i) => receipts.record('acme', eventId, userOf(i)));
      const flushed = receipts.close();
      // Commit only once the receipts' UPDATE is waiting for the worker's row locks (asked on
      // another connection: a transaction sees pg_stat_activity as it was when it first looked).
      await eventually(async () => {
        const [waiting] = await env.db.$client<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like '%update deliveries d set state = ''delivered''%'`;
        return waiting!.n > 0;
      }, 5_000);
      await worker`commit`;
      await flushed;
    } finally {
      worker.release();
    }
    expect(await stateCounts(pending)).toEqual([{ state: 'delivered', n: 50 }]);
  });
});

describe('receipts on a young table', () => {
  it('walk their pairs once: the rows are fetched by the ids the probes found, not joined with the probes', async () => {
    // A deployment's first few hundred in-app deliveries, statistics taken while all were
    // delivered, then 200 sent since: joined with the probes, the UPDATE scanned the sent rows
    // and probed every receipt again for each of them (193 × 200 probes, 150–360 ms a flush).
    await env.db.$client`truncate deliveries`;
    const sent = await writtenSince('young', 'delivered', 'sent', 200, true, 300);
    const marked = sent.slice(0, 193);

    const run = await executionOf(receiptUpdate(marked.map((eventId, i) => ({ tenantId: 'acme', eventId, userId: userOf(i) }))));
    expect(run.inputWalks).toEqual([1]);
    expect(await stateCounts(sent)).toEqual([
      { state: 'delivered', n: 193 },
      { state: 'sent', n: 7 },
    ]);
  });
});

describe('a large fan-out marked sent after statistics that say nothing is pending', () => {
  it('walks its pairs once: a batch of 1,000 among 10,000 pending rows', async () => {
    // Statistics taken while every in-app delivery was sent, then a 10,000-person fan-out's
    // rows pending: joined with the probes, the UPDATE walked the pending rows and probed every
    // pair again for each of them, past the statement timeout.
    await env.db.$client`truncate deliveries`;
    const pending = await writtenSince('fan', 'sent', 'pending', 10_000, true, 10_000);
    const marked = pending.slice(0, 1_000);

    const run = await executionOf(markInappSentStatement(pairsOf(marked)));
    expect(run.inputWalks).toEqual([1]);
    expect(await stateCounts(pending)).toEqual([
      { state: 'pending', n: 9_000 },
      { state: 'sent', n: 1_000 },
    ]);
  });
});
