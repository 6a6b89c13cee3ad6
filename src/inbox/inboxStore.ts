import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { notifications } from '../db/schema.ts';
import type { CountsByTenant } from '../realtime/liveFrames.ts';
import { presentNotification, type NotificationView } from './notificationView.ts';

/** Whose inbox: one user, seen through the tenants their token grants. */
export type InboxOwner = { userId: string; tenantIds: string[] };

export type ListOptions = { limit: number; cursor?: bigint; read?: boolean; type?: string };

function ownedBy(owner: InboxOwner): SQL {
  return and(eq(notifications.userId, owner.userId), inArray(notifications.tenantId, owner.tenantIds))!;
}

/**
 * Newest first by id. The cursor is the last id of the previous page, so rows inserted between
 * pages (always with higher ids) can neither repeat nor push others across a page boundary.
 */
export async function listNotifications(db: Db, owner: InboxOwner, options: ListOptions) {
  const rows = await db
    .select()
    .from(notifications)
    .where(
      and(
        ownedBy(owner),
        options.cursor !== undefined ? lt(notifications.id, options.cursor) : undefined,
        options.read === undefined ? undefined : options.read ? isNotNull(notifications.readAt) : isNull(notifications.readAt),
        options.type ? eq(notifications.type, options.type) : undefined,
      ),
    )
    .orderBy(desc(notifications.id))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  const nextCursor = rows.length > options.limit ? page[page.length - 1]!.id.toString() : null;
  return { items: page.map(presentNotification), nextCursor };
}

export async function summarize(db: Db, owner: InboxOwner): Promise<{ total: number; unread: number }> {
  const [row] = await db
    .select({ total: count(), unread: sql<number>`count(*) filter (where ${notifications.readAt} is null)`.mapWith(Number) })
    .from(notifications)
    .where(ownedBy(owner));
  return { total: row?.total ?? 0, unread: row?.unread ?? 0 };
}

/** Marks one notification read. Returns null when it is not this owner's (the caller answers 404). */
export async function markRead(db: Db, owner: InboxOwner, id: bigint): Promise<{ changed: boolean; tenantId?: string } | null> {
  const [updated] = await db
    .update(notifications)
    .set({ readAt: sql`now()` })
    .where(and(ownedBy(owner), eq(notifications.id, id), isNull(notifications.readAt)))
    .returning({ tenantId: notifications.tenantId });
  if (updated) return { changed: true, tenantId: updated.tenantId };
  const [existing] = await db.select({ id: notifications.id }).from(notifications).where(and(ownedBy(owner), eq(notifications.id, id)));
  return existing ? { changed: false } : null;
}

/** Marks every unread notification of the owner's tenants read; how many, in all and per tenant. */
export async function markAllRead(db: Db, owner: InboxOwner): Promise<{ updated: number; byTenant: CountsByTenant }> {
  const updated = await db
    .update(notifications)
    .set({ readAt: sql`now()` })
    .where(and(ownedBy(owner), isNull(notifications.readAt)))
    .returning({ tenantId: notifications.tenantId });
  const byTenant: CountsByTenant = {};
  for (const { tenantId } of updated) byTenant[tenantId] = (byTenant[tenantId] ?? 0) + 1;
  return { updated: updated.length, byTenant };
}

/** Notifications after a stream cursor, oldest first: what a reconnecting stream missed. */
export async function notificationsAfter(db: Db, owner: InboxOwner, afterId: bigint, limit: number): Promise<NotificationView[]> {
  const rows = await db
    .select()
    .from(notifications)
    .where(and(ownedBy(owner), gt(notifications.id, afterId)))
    .orderBy(asc(notifications.id))
    .limit(limit);
  return rows.map(presentNotification);
}

/** The newest notification id of a user (0 when none): where a fresh stream's cursor starts. */
export async function latestNotificationId(db: Db, userId: string): Promise<bigint> {
  const [row] = await db
    .select({ id: notifications.id })
    .from(notifications)
    .where(eq(notifications.userId, userId))
    .orderBy(desc(notifications.id))
    .limit(1);
  return row?.id ?? 0n;
}

/**
 * Unread counts per tenant for many users in one query (after a fan-out, after a read). Only
 * tenants the user is still a member of count; each stream then shows the sum over the tenants
 * its token grants.
 */
export async function unreadByTenant(db: Db, userIds: string[]): Promise<Map<string, CountsByTenant>> {
  const counts = new Map<string, CountsByTenant>(userIds.map((id) => [id, {}]));
  if (userIds.length === 0) return counts;
  const rows = await db.execute<{ user_id: string; tenant_id: string; unread: number }>(sql`
    select n.user_id, n.tenant_id, count(*)::int as unread
    from notifications n join users u on u.id = n.user_id
    where n.user_id = any(${sql.param(userIds)}::text[]) and n.read_at is null and n.tenant_id = any(u.tenant_ids)
    group by n.user_id, n.tenant_id
  `);
  for (const row of rows) counts.get(row.user_id)![row.tenant_id] = row.unread;
  return counts;
}
