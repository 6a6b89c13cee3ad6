import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { inboxHeads, notifications } from '../db/schema.ts';
import { prioritiesFrom, type Priority } from '../routing/priority.ts';
import type { StreamSource } from '../realtime/sseHub.ts';
import { countsOf } from './inboxCounts.ts';
import { presentNotification, type NotificationView } from './notificationView.ts';

/** Whose inbox: one user, seen through the tenants their token grants. */
export type InboxOwner = { userId: string; tenantIds: string[] };

/** SPEC §5.1: all but archived by default; `all` includes archived; the others exclude it. */
export const STATUSES = ['unseen', 'unread', 'read', 'archived', 'all'] as const;
export type InboxStatus = (typeof STATUSES)[number];

export type ListOptions = { limit: number; cursor?: bigint; status?: InboxStatus; priority?: Priority; type?: string };

function statusFilter(status: InboxStatus | undefined): SQL | undefined {
  const inInbox = isNull(notifications.archivedAt);
  switch (status) {
    case 'all':
      return undefined;
    case 'archived':
      return isNotNull(notifications.archivedAt);
    case 'unseen':
      return and(inInbox, isNull(notifications.seenAt));
    case 'unread':
      return and(inInbox, isNull(notifications.readAt));
    case 'read':
      return and(inInbox, isNotNull(notifications.readAt));
    default:
      return inInbox;
  }
}

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
        statusFilter(options.status),
        options.priority ? inArray(notifications.priority, prioritiesFrom(options.priority)) : undefined,
        options.type ? eq(notifications.type, options.type) : undefined,
      ),
    )
    .orderBy(desc(notifications.seq))
    .limit(options.limit + 1);
  const page = rows.slice(0, options.limit);
  const nextCursor = rows.length > options.limit ? page[page.length - 1]!.seq.toString() : null;
  return { items: page.map(presentNotification), nextCursor };
}

/** Counted from the rows themselves (the kept counts of inbox_counts must always agree with it); archived ones left out. */
export async function summarize(db: Db, owner: InboxOwner): Promise<{ total: number; unread: number; unseen: number }> {
  const [row] = await db
    .select({
      total: count(),
      unread: sql<number>`count(*) filter (where ${notifications.readAt} is null)`.mapWith(Number),
      unseen: sql<number>`count(*) filter (where ${notifications.seenAt} is null)`.mapWith(Number),
    })
    .from(notifications)
    .where(and(ownedBy(owner), isNull(notifications.archivedAt)));
  return { total: row?.total ?? 0, unread: row?.unread ?? 0, unseen: row?.unseen ?? 0 };
}

/** A notification with its stream cursor (the user's seq), as a live frame carries it. */
export type CursoredNotification = { data: NotificationView; cursor: string };

/** Notifications after a stream cursor (and before another, when given), in cursor order: what a stream missed. */
export async function notificationsAfter(db: Db, owner: InboxOwner, afterSeq: bigint, limit: number, beforeSeq?: bigint): Promise<CursoredNotification[]> {
  const rows = await db
    .select()
    .from(notifications)
    .where(and(ownedBy(owner), gt(notifications.seq, afterSeq), beforeSeq === undefined ? undefined : lt(notifications.seq, beforeSeq)))
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


/** What a live stream reads from the inbox (see createSseHub); `carried` hears of every notification frame a stream carried. */
export function inboxStreamSource(db: Db, carried: StreamSource['carried'] = () => {}): StreamSource {
  return {
    notificationsAfter: (userId, tenantIds, afterCursor, limit, beforeCursor) => notificationsAfter(db, { userId, tenantIds }, afterCursor, limit, beforeCursor),
    latestCursor: (userId) => latestCursor(db, userId),
    counts: (userId, tenantIds) => countsOf(db, userId, tenantIds),
    carried,
  };
}
