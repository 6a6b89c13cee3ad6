import { and, eq } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deliveries, notifications } from '../db/schema.ts';
import type { DeliveryRow } from './deliveryStore.ts';

/**
 * An event's delivery timeline (SPEC §7): its delivery rows, and an in-app line for each inbox
 * row that has no delivery row of its own.
 *
 * The router writes the inbox rows of an event with a small fan-out in the statement that routes
 * it and records no in-app delivery beside them: the inbox row, unique per (event, user), is the
 * delivery's record — written means sent, its `delivered_at` (a live stream's receipt) means
 * delivered. A large fan-out's in-app deliveries keep rows, pending until the in-app worker
 * writes their inbox rows; so do refused and skipped ones, which have no inbox row. Either way a
 * receipt lands on the inbox row, and a delivery row still `pending` or `sent` is shown
 * `delivered` once its row has one.
 */
export async function eventTimeline(db: Db, tenantId: string, eventId: string): Promise<DeliveryRow[]> {
  const [rows, inbox] = await Promise.all([
    db
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.tenantId, tenantId), eq(deliveries.eventId, eventId))),
    db
      .select(INBOX_LINE_COLUMNS)
      .from(notifications)
      .where(and(eq(notifications.tenantId, tenantId), eq(notifications.eventId, eventId))),
  ]);
  const inboxByUser = new Map(inbox.map((row) => [row.userId, row]));
  const withDeliveryRow = new Set<string>();
  const lines = rows.map((row) => {
    if (row.channel !== 'inapp') return row;
    withDeliveryRow.add(row.destination);
    const inboxRow = inboxByUser.get(row.destination);
    return inboxRow ? withReceipt(row, inboxRow) : row;
  });
  for (const inboxRow of inbox) if (!withDeliveryRow.has(inboxRow.userId)) lines.push(inboxLine(inboxRow));
  return lines.sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compareText(a.channel, b.channel) || compareText(a.destination, b.destination),
  );
}

/** A timeline line by its id, a delivery row's or an inbox row's (inboxLineId); null when there is none. */
export async function findTimelineLine(db: Db, id: string): Promise<DeliveryRow | null> {
  const notificationId = notificationIdOfLine(id);
  if (notificationId === null) {
    const [row] = await db.select().from(deliveries).where(eq(deliveries.id, id));
    return row ?? null;
  }
  const [inboxRow] = await db.select(INBOX_LINE_COLUMNS).from(notifications).where(eq(notifications.id, notificationId));
  return inboxRow ? inboxLine(inboxRow) : null;
}

/**
 * The id of an inbox row's in-app line: a UUID like every delivery's, of version 8 (RFC 9562's
 * custom layout), `hhhhhhhh-0000-8000-8000-llllllllllll`, the notification's id split into its
 * bits above 48 (`h`) and its low 48 (`l`). Delivery ids are version 7, time first, so the two
 * never meet, and a retry of a line's id finds its row again (findTimelineLine) — and is refused
 * like any in-app delivery's.
 */
export function inboxLineId(notificationId: bigint): string {
  const high = (notificationId >> 48n).toString(16).padStart(8, '0');
  const low = (notificationId & 0xffff_ffff_ffffn).toString(16).padStart(12, '0');
  return `${high}-0000-8000-8000-${low}`;
}

/** The notification id an inboxLineId carries; null for any other id. */
export function notificationIdOfLine(id: string): bigint | null {
  const parts = INBOX_LINE_ID.exec(id.toLowerCase());
  return parts ? (BigInt(`0x${parts[1]}`) << 48n) | BigInt(`0x${parts[2]}`) : null;
}

const INBOX_LINE_ID = /^([0-9a-f]{8})-0000-8000-8000-([0-9a-f]{12})$/;

const INBOX_LINE_COLUMNS = {
  id: notifications.id,
  tenantId: notifications.tenantId,
  eventId: notifications.eventId,
  userId: notifications.userId,
  priority: notifications.priority,
  createdAt: notifications.createdAt,
  deliveredAt: notifications.deliveredAt,
};

type InboxLineRow = { [K in keyof typeof INBOX_LINE_COLUMNS]: (typeof notifications.$inferSelect)[K] };

/** An inbox row as the in-app line of its delivery: sent when written, delivered once a stream carried it. */
function inboxLine(row: InboxLineRow): DeliveryRow {
  return {
    id: inboxLineId(row.id),
    eventId: row.eventId,
    tenantId: row.tenantId,
    channel: 'inapp',
    destination: row.userId,
    userId: row.userId,
    ruleId: null,
    teamId: null,
    state: row.deliveredAt ? 'delivered' : 'sent',
    priority: row.priority,
    attempts: 1,
    lastError: null,
    sentAt: row.createdAt,
    deliveredAt: row.deliveredAt,
    failedAt: null,
    notBefore: null,
    fallbackUnless: null,
    digestId: null,
    carriedBy: null,
    createdAt: row.createdAt,
    updatedAt: row.deliveredAt ?? row.createdAt,
  };
}

/** A delivery row with its inbox row's receipt: pending or sent becomes delivered. */
function withReceipt(row: DeliveryRow, inboxRow: InboxLineRow): DeliveryRow {
  if (!inboxRow.deliveredAt || (row.state !== 'pending' && row.state !== 'sent')) return row;
  const updatedAt = inboxRow.deliveredAt > row.updatedAt ? inboxRow.deliveredAt : row.updatedAt;
  return { ...row, state: 'delivered', deliveredAt: inboxRow.deliveredAt, updatedAt };
}

/** Orders as the timeline always did, by code point, whatever the database's collation. */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
