import { afterAll, beforeAll, expect, it } from 'vitest';
import { contentKey } from '../../src/inbox/inboxContent.ts';
import { createInboxPairs, insertInboxRows } from '../../src/inbox/inboxWriter.ts';
import { acmeContent as content } from '../helpers/inboxContent.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * A write of more rows than one statement takes (a large fan-out's in-app batches, written
 * together) goes out as several statements at once, cut along user ids. What a user relies on
 * must not change with it: one row per (event, user), a user's rows numbered in the order given,
 * counts that add up, and a second write of the same rows inserting nothing.
 */
const USERS = 1_300;
const EVENTS = ['big_1', 'big_2', 'big_3'];

let env: TestEnv;
const userIds = Array.from({ length: USERS }, (_, i) => `w${String(i).padStart(5, '0')}`);

beforeAll(async () => {
  env = await createTestEnv();
  await env.db.$client`insert into tenants (id, name) values ('acme', 'Acme')`;
  await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${userIds}::text[]) as id`;
});
afterAll(() => env?.cleanup());

it('writes 3,900 rows in parts at once: each pair once, every user’s rows numbered in the order given, counts that add up', async () => {
  // Users in reverse order and each user's three rows far apart, so no part boundary can follow the input's order.
  const pairs = createInboxPairs();
  for (const eventId of EVENTS) {
    for (const userId of [...userIds].reverse()) pairs.add({ tenantId: 'acme', id: eventId }, userId, contentKey({ tenantId: 'acme', id: eventId }, null), 'normal');
  }
  const write = await insertInboxRows(env.db, EVENTS.map(content), pairs);

  expect(write.rows).toHaveLength(USERS * EVENTS.length);
  const stored = await env.db.$client<{ user_id: string; event_id: string; seq: string }[]>`
    select user_id, event_id, seq::text from notifications order by user_id, seq`;
  expect(stored).toHaveLength(USERS * EVENTS.length);
  const byUser = new Map<string, { event_id: string; seq: string }[]>();
  for (const row of stored) byUser.set(row.user_id, [...(byUser.get(row.user_id) ?? []), row]);
  expect(byUser.size).toBe(USERS);
  for (const [, rows] of byUser) {
    expect(rows.map((r) => r.event_id)).toEqual(EVENTS);
    expect(rows.map((r) => r.seq)).toEqual(['1', '2', '3']);
  }
  expect(write.counts.size).toBe(USERS);
  expect([...write.counts.values()].every((counts) => counts.acme?.unread === EVENTS.length && counts.acme?.unseen === EVENTS.length)).toBe(true);

  const again = await insertInboxRows(env.db, EVENTS.map(content), pairs);
  expect(again.rows).toEqual([]);
  expect((await env.db.$client`select count(*)::int as n from notifications`)[0]!.n).toBe(USERS * EVENTS.length);
});
