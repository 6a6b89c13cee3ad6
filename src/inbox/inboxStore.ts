import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { inboxHeads, notifications } from '../db/schema.ts';
import type { CountsByTenant } from '../realtime/liveFrames.ts';
import { applyCountDeltas, countsByUser, type CountRow, type InboxCounts } from './inboxCounts.ts';
import { presentNotification, type NotificationView } from './notificationView.ts';

/** Whose inbox: one user, seen through the tenants their token grants. */
export type InboxOwner = { userId: string; tenantIds: string[] };

export type ListOptions = { limit: number; cursor?: bigint; read?: boolean; type?: string };

function ownedBy(owner: InboxOwner): SQL {
  return and(eq(notifications.userId, owner.userId), inArray(notifications.tenantId, owner.tenantIds))!;
}

/**
 * Newest first by the user's seq. The cursor is the last seq of the previous page; rows
 * committed between pages always get higher seqs (see insertInboxRows), so they can neither
 * repeat nor push others across a page boundary.
 */
export async function listNotifications(db: Db, owner: InboxOwner, options: ListOptions) {
  const rows = await db
    .select()
    .from(notifications)
    .where(
      and(
        ownedBy(owner),
        options.cursor !== undefined ? lt(notifications.seq, options.cursor) : undefined,
        options.read === undefined ? undefined : options.read ? isNotNull(notifications.readAt) : isNull(notifications.readAt),
        options.type ? eq(notifications.type, options.type) : undefined,
      ),
    )
    .orderBy(desc(notifications.seq))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  const nextCursor = rows.length > options.limit ? page[page.length - 1]!.seq.toString() : null;
  return { items: page.map(presentNotification), nextCursor };
}

export async function summarize(db: Db, owner: InboxOwner): Promise<{ total: number; unread: number }> {
  const [row] = await db
    .select({ total: count(), unread: sql<number>`count(*) filter (where ${notifications.readAt} is null)`.mapWith(Number) })
    .from(notifications)
    .where(ownedBy(owner));
  return { total: row?.total ?? 0, unread: row?.unread ?? 0 };
}

/** What a change of state did: whose counts it moved, to what (for the live count frames). */
export type StateChange = { counts: InboxCounts };

/**
 * Marks one notification read, and its tenant's count down in the same statement. Null when it
 * is not this owner's (the caller answers 404); `changed` false when it was read already.
 */
export async function markRead(db: Db, owner: InboxOwner, id: bigint): Promise<(StateChange & { changed: boolean; tenantId?: string }) | null> {
  const [row] = await db.execute<{ found: boolean; tenant_id: string | null; counts: CountRow[] }>(sql`
    with changed as (
      update notifications set read_at = now()
      where id = ${id} and user_id = ${owner.userId} and tenant_id = any(${sql.param(owner.tenantIds)}::text[]) and read_at is null
      returning user_id, tenant_id
    ),
    counted as (${applyCountDeltas(sql`select user_id, tenant_id, -1 from changed`)})
    select exists (select 1 from notifications where id = ${id} and user_id = ${owner.userId} and tenant_id = any(${sql.param(owner.tenantIds)}::text[])) as found,
           (select tenant_id from changed) as tenant_id,
           (select coalesce(json_agg(counted), '[]') from counted) as counts
  `);
  if (!row?.found && !row?.tenant_id) return null;
  const counts = countsByUser(row.counts).get(owner.userId) ?? {};
  return row.tenant_id ? { changed: true, tenantId: row.tenant_id, counts } : { changed: false, counts };
}

/** Marks every unread notification of the owner's tenants read, and their counts down; how many, in all and per tenant. */
export async function markAllRead(db: Db, owner: InboxOwner): Promise<StateChange & { updated: number; byTenant: CountsByTenant }> {
  const [row] = await db.execute<{ by_tenant: { tenant_id: string; n: number }[]; counts: CountRow[] }>(sql`
    with changed as (
      update notifications set read_at = now()
      where user_id = ${owner.userId} and tenant_id = any(${sql.param(owner.tenantIds)}::text[]) and read_at is null
      returning user_id, tenant_id
    ),
    counted as (${applyCountDeltas(sql`select user_id, tenant_id, -1 from changed`)})
    select (select coalesce(json_agg(t), '[]') from (select tenant_id, count(*)::int as n from changed group by tenant_id) t) as by_tenant,
           (select coalesce(json_agg(counted), '[]') from counted) as counts
  `);
  const byTenant: CountsByTenant = {};
  for (const { tenant_id: tenantId, n } of row!.by_tenant) byTenant[tenantId] = n;
  const updated = Object.values(byTenant).reduce((a, b) => a + b, 0);
  return { updated, byTenant, counts: countsByUser(row!.counts).get(owner.userId) ?? {} };
}

/** A notification with its stream cursor (the user's seq), as a live frame carries it. */
export type CursoredNotification = { data: NotificationView; cursor: string };

/** Notifications after a stream cursor, in cursor order: what a reconnecting stream missed. */
export async function notificationsAfter(db: Db, owner: InboxOwner, afterSeq: bigint, limit: number): Promise<CursoredNotification[]> {
  const rows = await db
    .select()
    .from(notifications)
    .where(and(ownedBy(owner), gt(notifications.seq, afterSeq)))
    .orderBy(asc(notifications.seq))
    .limit(limit);
  return rows.map((row) => ({ data: presentNotification(row), cursor: row.seq.toString() }));
}

/**
 * Where a fresh stream's cursor starts: the last seq handed out to the user (0 when none). A
 * row committed after this read has a higher seq, so it comes live or by replay.
 */
export async function latestCursor(db: Db, userId: string): Promise<bigint> {
  const [row] = await db.select({ seq: inboxHeads.seq }).from(inboxHeads).where(eq(inboxHeads.userId, userId));
  return row?.seq ?? 0n;
}

