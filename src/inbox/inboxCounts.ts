import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';

/** A user's unread and unseen counts in one tenant (archived rows not counted), with the version of the change that produced them. */
export type TenantCount = { unread: number; unseen: number; version: string };

/** Counts per tenant id (only the tenants a change touched, in a frame). */
export type InboxCounts = Record<string, TenantCount>;

type CountRow = { user_id: string; tenant_id: string; unread: number; unseen: number; version: string };

/**
 * The counts are kept, not counted: the statement that changes a notification's state also
 * applies the change to `inbox_counts` (this fragment, as one of its CTEs), so the two cannot
 * drift and a new row costs no COUNT over its user's inbox. `deltas` yields rows of
 * (user_id, tenant_id, unread_delta, unseen_delta); the result is the new counts of the pairs
 * it touched.
 *
 * The GROUP BY reads every changed row before the first count row is locked, and count rows
 * are locked in (user, tenant) order: a statement holding notification rows and waiting for a
 * count never holds a count another is waiting for, so concurrent changes cannot deadlock.
 */
export function applyCountDeltas(deltas: SQL): SQL {
  return sql`
    insert into inbox_counts (user_id, tenant_id, unread, unseen, version)
    select user_id, tenant_id, sum(unread_delta)::int, sum(unseen_delta)::int, 1
    from (${deltas}) as d(user_id, tenant_id, unread_delta, unseen_delta)
    group by user_id, tenant_id
    having sum(abs(unread_delta)) + sum(abs(unseen_delta)) > 0
    order by user_id, tenant_id
    on conflict (user_id, tenant_id) do update
      set unread = inbox_counts.unread + excluded.unread, unseen = inbox_counts.unseen + excluded.unseen, version = inbox_counts.version + 1
    returning user_id, tenant_id, unread, unseen, version::text`;
}

/** New counts, as a statement with an applyCountDeltas CTE returns them, by user. */
export function countsByUser(rows: readonly CountRow[]): Map<string, InboxCounts> {
  const byUser = new Map<string, InboxCounts>();
  for (const row of rows) {
    const counts = byUser.get(row.user_id) ?? {};
    counts[row.tenant_id] = { unread: Number(row.unread), unseen: Number(row.unseen), version: String(row.version) };
    byUser.set(row.user_id, counts);
  }
  return byUser;
}

/** A user's counts in these tenants, as a stream reads them when it opens. */
export async function countsOf(db: Pick<Db, 'execute'>, userId: string, tenantIds: string[]): Promise<InboxCounts> {
  const rows = await db.execute<CountRow>(sql`
    select user_id, tenant_id, unread, unseen, version::text from inbox_counts
    where user_id = ${userId} and tenant_id = any(${sql.param(tenantIds)}::text[])`);
  return countsByUser(rows).get(userId) ?? {};
}

export type { CountRow };
