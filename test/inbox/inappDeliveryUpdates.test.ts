import type { SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { markInappSentStatement, recordInappRefusedStatement } from '../../src/inbox/inboxWriter.ts';
import { createInappReceipts, receiptUpdate } from '../../src/realtime/inappReceipts.ts';
import { eventually } from '../helpers/api.ts';
import { accessPaths, executedPlan, inputWalks, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['deliveries', 'notifications']);
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
      statement: 'an older job’s in-app batch (pending → sent)',
      settled: 'sent',
      from: 'pending',
      to: 'sent',
      mark: (marked: string[]) => markInappSentStatement(pairsOf(marked)),
    },
    {
      statement: 'refused content (pending → failed, each with its reason)',
      settled: 'sent',
      from: 'pending',
      to: 'failed',
      mark: (marked: string[]) =>
        recordInappRefusedStatement(marked.map((id, i) => ({ event: { tenantId: 'acme', id }, userId: userOf(i), reason: reasonOf(i), priority: 'normal' as const, ruleId: null }))),
    },
  ])('$statement', async ({ settled, from, to, mark }) => {
    const fresh = await writtenSince(`${analyze ? 's' : 'n'}${to}`, settled, from, 1_000, analyze);
    const marked = fresh.slice(0, 100);
    const run = await executionOf(mark(marked));
    // The refusal is an INSERT whose conflicts the unique index arbitrates: it reads deliveries no other way.
    if (to === 'sent') expect(run.deliveriesAccess).toContain(PROBE);
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

describe('refused in-app content', () => {
  it('is recorded failed with its reason: a new row for a recorded batch’s person, an older job’s pending row marked, a failed one left alone', async () => {
    await insertInapp(['rf_pending'], 'pending');
    await insertInapp(['rf_failed'], 'failed');
    const refused = ['rf_pending', 'rf_failed', 'rf_new'].map((id) => ({ event: { tenantId: 'acme', id }, userId: 'u0', reason: `why ${id}`, priority: 'high' as const, ruleId: null }));
    const recorded = await env.db.execute<{ event_id: string }>(recordInappRefusedStatement(refused));
    expect(recorded.map((row) => row.event_id).sort()).toEqual(['rf_new', 'rf_pending']);
    const rows = await env.db.$client<{ event_id: string; state: string; attempts: number; last_error: string | null; priority: string; failed: boolean }[]>`
      select event_id, state, attempts, last_error, priority, failed_at is not null as failed from deliveries
      where event_id like 'rf\_%' order by event_id`;
    expect(rows).toEqual([
      { event_id: 'rf_failed', state: 'failed', attempts: 0, last_error: null, priority: 'normal', failed: false },
      { event_id: 'rf_new', state: 'failed', attempts: 1, last_error: 'why rf_new', priority: 'high', failed: true },
      { event_id: 'rf_pending', state: 'failed', attempts: 1, last_error: 'why rf_pending', priority: 'normal', failed: true },
    ]);
    // A re-run records nothing again.
    expect(await env.db.execute(recordInappRefusedStatement(refused))).toHaveLength(0);
  });
});

/**
 * Inbox rows as a busy inbox leaves them: `settledCount` rows a stream carried long ago
 * (`delivered_at` set), then `count` more written since, not carried yet. With `analyze`,
 * statistics are taken in between; without, the table has none.
 */
async function inboxWrittenSince(prefix: string, count: number, analyze: boolean, settledCount = 5_000): Promise<string[]> {
  const insert = (eventIds: string[], delivered: boolean) => env.db.$client`
    insert into notifications (user_id, seq, tenant_id, event_id, type, title, delivered_at)
    select 'u' || ((n - 1) % ${USERS}), (select coalesce(max(seq), 0) from notifications) + n, 'acme', e, 'finding_created', 'a title',
           case when ${delivered}::boolean then now() - interval '1 day' end
    from unnest(${eventIds}::text[]) with ordinality as x(e, n)`;
  await insert(ids(`${prefix}_old_`, settledCount), true);
  if (analyze) await env.db.$client`analyze notifications`;
  const fresh = ids(`${prefix}_new_`, count);
  await insert(fresh, false);
  return fresh;
}

const receiptsOf = (eventIds: string[]) => eventIds.map((eventId, i) => ({ tenantId: 'acme', eventId, userId: userOf(i) }));

const deliveredCount = async (eventIds: string[]) => {
  const [row] = await env.db.$client<{ n: number }[]>`
    select count(*)::int as n from notifications where event_id = any(${eventIds}::text[]) and delivered_at is not null`;
  return row!.n;
};

// Receipts land on the inbox rows, each in-app delivery's record (src/deliveries/timeline.ts):
// each receipt probes the unique (tenant, event, user) index and each row is then updated by its
// primary key, whatever the statistics say.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'taken while every row had been carried', analyze: true },
])('receipts read only their own inbox rows (statistics: $statistics)', ({ analyze }) => {
  it('probes each receipt’s row and updates it by its key', async () => {
    const fresh = await inboxWrittenSince(analyze ? 'sreceipt' : 'nreceipt', 1_000, analyze);
    const marked = fresh.slice(0, 100);
    const nodes = await executedPlan(env.db, receiptUpdate(receiptsOf(marked)));
    const paths = accessPaths(nodes, 'notifications');
    expect(paths).toContain('Index Scan using notifications_event_user_uq');
    expect(paths.filter((path) => !INBOX_BY_KEY.includes(path))).toEqual([]);
    expect(inputWalks(nodes)).toEqual([1]);
    expect(await deliveredCount(marked)).toBe(100);
    expect(await deliveredCount(fresh)).toBe(100);
  });
});

const INBOX_BY_KEY = ['Index Scan using notifications_event_user_uq', 'Index Scan using notifications_pkey', 'Bitmap Heap Scan using notifications_pkey'];

describe('live receipts', () => {
  it('mark the carried rows delivered, once, and ignore receipts with no row', async () => {
    const fresh = await inboxWrittenSince('live', 300, true);
    const receipts = createInappReceipts(env.db, env.logger, 60_000);
    receiptsOf(fresh.slice(0, 200)).forEach((r) => receipts.record(r.tenantId, r.eventId, r.userId));
    receipts.record('acme', 'no_such_event', 'u1');
    // A receipt for a row carried before (a frame replayed) leaves it as it was.
    receipts.record('acme', 'live_old_7', 'u7');
    const deliveredAt = () => env.db.$client<{ delivered_at: Date | null }[]>`select delivered_at from notifications where event_id = 'live_old_7'`;
    const before = await deliveredAt();
    expect(before[0]!.delivered_at).not.toBeNull();
    await receipts.close();

    expect(await deliveredCount(fresh.slice(0, 200))).toBe(200);
    expect(await deliveredCount(fresh)).toBe(200);
    expect(await deliveredAt()).toEqual(before);
  });

  it('lands when the person reads the same rows at the same moment', async () => {
    // The receipt's UPDATE waits for the reader's row locks, then must still find each row, now
    // in a new version at a new place in the table (a join on ctid lost it).
    const fresh = await inboxWrittenSince('race', 50, false, 0);
    const reader = await env.db.$client.reserve();
    try {
      await reader`begin`;
      await reader`update notifications set seen_at = now(), read_at = now() where event_id = any(${fresh}::text[])`;
      const receipts = createInappReceipts(env.db, env.logger, 60_000);
      receiptsOf(fresh).forEach((r) => receipts.record(r.tenantId, r.eventId, r.userId));
      const flushed = receipts.close();
      // Commit only once the receipts' UPDATE is waiting for the reader's row locks (asked on
      // another connection: a transaction sees pg_stat_activity as it was when it first looked).
      await eventually(async () => {
        const [waiting] = await env.db.$client<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like '%set delivered_at = now()%'`;
        return waiting!.n > 0;
      }, 5_000);
      await reader`commit`;
      await flushed;
    } finally {
      reader.release();
    }
    const [row] = await env.db.$client<{ n: number }[]>`
      select count(*)::int as n from notifications where event_id = any(${fresh}::text[]) and delivered_at is not null and read_at is not null`;
    expect(row!.n).toBe(50);
  });
});

describe('receipts on a young table', () => {
  it('walk their pairs once: the rows are fetched by the ids the probes found, not joined with the probes', async () => {
    // A deployment's first few hundred inbox rows, statistics taken while all were carried, then
    // 200 written since: joined with the probes, such an UPDATE (on the deliveries table, where
    // receipts were once kept) scanned the new rows and probed every receipt again for each.
    await env.db.$client`truncate notifications`;
    const fresh = await inboxWrittenSince('young', 200, true, 300);
    const marked = fresh.slice(0, 193);

    const nodes = await executedPlan(env.db, receiptUpdate(receiptsOf(marked)));
    expect(inputWalks(nodes)).toEqual([1]);
    expect(await deliveredCount(fresh)).toBe(193);
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
