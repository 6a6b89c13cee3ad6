import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { earlierRowsStatement, unannouncedEarlierRows } from '../../src/inbox/inboxWriter.ts';
import { accessPaths, executedPlan, rowsRead, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['notifications', 'deliveries', 'inbox_counts']);
});
afterAll(() => env?.cleanup());

const USERS = 300;
const userIds = (count: number, from = 0) => Array.from({ length: count }, (_, i) => `u${from + i}`);

/** Inbox rows of one event for these users, with their in-app deliveries in `state`. */
async function written(eventId: string, users: string[], state: string): Promise<void> {
  await env.db.$client`
    insert into notifications (user_id, seq, tenant_id, event_id, type, title)
    select u, nextval('test_seq'), 'acme', ${eventId}, 'finding_created', 'A finding' from unnest(${users}::text[]) as u`;
  await env.db.$client`
    insert into deliveries (tenant_id, event_id, channel, destination, user_id, state)
    select 'acme', ${eventId}, 'inapp', u, u, ${state} from unnest(${users}::text[]) as u`;
}

/**
 * A busy inbox: every user's earlier notifications (settled, announced long ago), a backlog of
 * in-app deliveries still pending for another fan-out and of webhooks pending for a receiver
 * that is down — then, after the statistics if `analyze`, the event a retry finds: its rows
 * written for 300 users by an earlier run, 200 of them never announced (their delivery pending)
 * and 100 announced (sent).
 */
async function busyInbox(prefix: string, analyze: boolean): Promise<string> {
  await env.db.$client`create sequence if not exists test_seq`;
  // Statistics are of this inbox alone: the rows of the cases before it (pending ones among them) go first.
  if (analyze) await env.db.$client`truncate notifications, deliveries, inbox_counts`;
  for (let i = 0; i < 20; i++) await written(`${prefix}_old_${i}`, userIds(USERS), 'delivered');
  await env.db.$client`
    insert into inbox_counts (user_id, tenant_id, unread, unseen, version)
    select u, 'acme', 20, 20, 1 from unnest(${userIds(USERS)}::text[]) as u on conflict do nothing`;
  // Everyone else's counts: enough rows that reading them all is never the cheap way.
  await env.db.$client`
    insert into inbox_counts (user_id, tenant_id, unread, unseen, version)
    select ${prefix} || '_w' || n, 'acme', 1, 1, 1 from generate_series(1, 5000) as n`;
  if (analyze) await env.db.$client`analyze notifications, deliveries, inbox_counts`;
  await env.db.$client`
    insert into deliveries (tenant_id, event_id, channel, destination, user_id, state)
    select 'acme', ${`${prefix}_backlog`}, 'inapp', 'w' || n, 'w' || n, 'pending' from generate_series(1, 3000) as n`;
  await env.db.$client`
    insert into deliveries (tenant_id, event_id, channel, destination, state)
    select 'acme', ${prefix} || '_hook_' || n, 'webhook', 'hook', 'pending' from generate_series(1, 3000) as n`;
  const eventId = `${prefix}_retried`;
  await written(eventId, userIds(200), 'pending');
  await written(eventId, userIds(100, 200), 'sent');
  return eventId;
}

const pairsOf = (eventId: string, users: string[]) => ({ tenantIds: users.map(() => 'acme'), eventIds: users.map(() => eventId), userIds: users });

// A retry (the in-app worker's of a fan-out batch, or the router's of an event it wrote but never
// marked routed) announces the rows an earlier run wrote and never announced. It joined the
// pairs with notifications (and the in-app worker's with the pending deliveries), leaving the
// plan to the statistics: a recovery that re-routes thousands of events must not read a whole
// inbox table, or every pending delivery, once per pass.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'taken before the backlog', analyze: true },
])('a retry reads only the earlier rows of its own pairs (statistics: $statistics)', ({ analyze }) => {
  it.each([
    { writer: 'the in-app worker (unannounced while its delivery is pending)', pendingDelivery: true, expected: userIds(200) },
    { writer: 'the router (every row of an event not yet routed)', pendingDelivery: false, expected: userIds(300) },
  ])('$writer', async ({ pendingDelivery, expected }) => {
    const prefix = `${analyze ? 'stats' : 'nostats'}_${pendingDelivery ? 'inapp' : 'router'}`;
    const eventId = await busyInbox(prefix, analyze);
    // The pairs of the retried batch: its 300 users and 50 whose rows this run writes now.
    const pairs = pairsOf(eventId, userIds(350));

    const { rows, counts } = await unannouncedEarlierRows(env.db, pairs, [], { pendingDelivery });
    expect(rows.map((row) => row.userId).sort()).toEqual([...expected].sort());
    expect(rows.every((row) => row.eventId === eventId && row.tenantId === 'acme')).toBe(true);
    expect([...counts.keys()].sort()).toEqual([...expected].sort());
    expect(counts.get('u0')).toEqual({ acme: { unread: 20, unseen: 20, version: '1' } });

    const plan = await executedPlan(env.db, earlierRowsStatement(pairs, pendingDelivery));
    expect(accessPaths(plan, 'notifications')).toEqual(['Index Scan using notifications_event_user_uq']);
    expect(accessPaths(plan, 'deliveries')).toEqual(pendingDelivery ? ['Index Scan using deliveries_event_channel_destination_uq'] : []);
    // At most one row a pair (the in-app worker's probes only the pairs whose delivery is pending), and each user's counts once.
    expect(rowsRead(plan, 'deliveries')).toBeLessThanOrEqual(pendingDelivery ? pairs.eventIds.length : 0);
    expect(rowsRead(plan, 'notifications')).toBeLessThanOrEqual(pendingDelivery ? 300 : pairs.eventIds.length);
    expect(rowsRead(plan, 'inbox_counts')).toBe(expected.length);
  });
});
