import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deliveries, inappBatches, notifications } from '../db/schema.ts';
import type { DeliveryRow } from './deliveryStore.ts';

/**
 * An event's delivery timeline (SPEC §7): its delivery rows, an in-app line for each inbox row
 * that has no delivery row of its own, and a pending one for each person of a large fan-out
 * whose row is still to be written.
 *
 * No in-app delivery is recorded as a row of its own while it goes well: the inbox row, unique
 * per (event, user), is its record — written means sent, its `delivered_at` (a live stream's
 * receipt) means delivered. The router writes the inbox rows of an event with a small fan-out in
 * the statement that routes it; a large fan-out's people wait in its in-app batches
 * (src/inbox/inappBatches.ts) until the in-app worker writes their rows. Refused and skipped
 * in-app deliveries, which have no inbox row, are rows; so are those routed before
 * drizzle/0014–0015, and a receipt shows such a row still `pending` or `sent` as `delivered`.
 */
export async function eventTimeline(db: Db, tenantId: string, eventId: string): Promise<DeliveryRow[]> {
  const [rows, inbox, batches] = await Promise.all([
    db
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.tenantId, tenantId), eq(deliveries.eventId, eventId))),
    db
      .select(INBOX_LINE_COLUMNS)
      .from(notifications)
      .where(and(eq(notifications.tenantId, tenantId), eq(notifications.eventId, eventId))),
    db
      .select()
      .from(inappBatches)
      .where(and(eq(inappBatches.tenantId, tenantId), eq(inappBatches.eventId, eventId), isNull(inappBatches.writtenAt))),
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
  for (const batch of batches) {
    batch.recipients.userIds.forEach((userId, i) => {
      if (!withDeliveryRow.has(userId) && !inboxByUser.has(userId)) lines.push(batchLine(batch, i));
    });
  }
  return lines.sort(
    (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compareText(a.channel, b.channel) || compareText(a.destination, b.destination),
  );
}

/**
 * A timeline line by its id — a delivery row's, an inbox row's (inboxLineId) or a batch
 * recipient's (batchLineId) — as it stands now: a batch recipient's line is their inbox row's
 * once that is written. Null when there is none.
 */
export async function findTimelineLine(db: Db, id: string): Promise<DeliveryRow | null> {
  const line = lineOfId(id);
  if (line === null) {
    const [row] = await db.select().from(deliveries).where(eq(deliveries.id, id));
    return row ?? null;
  }
  if (line.kind === 'inbox') {
    const [inboxRow] = await db.select(INBOX_LINE_COLUMNS).from(notifications).where(eq(notifications.id, line.id));
    return inboxRow ? inboxLine(inboxRow) : null;
  }
  const [batch] = await db.select().from(inappBatches).where(eq(inappBatches.id, line.id));
  const userId = batch?.recipients.userIds[line.index];
  if (!batch || userId === undefined) return null;
  const [[inboxRow], [row]] = await Promise.all([
    db
      .select(INBOX_LINE_COLUMNS)
      .from(notifications)
      .where(and(eq(notifications.tenantId, batch.tenantId), eq(notifications.eventId, batch.eventId), eq(notifications.userId, userId))),
    db
      .select()
      .from(deliveries)
      .where(and(eq(deliveries.tenantId, batch.tenantId), eq(deliveries.eventId, batch.eventId), eq(deliveries.channel, 'inapp'), eq(deliveries.destination, userId))),
  ]);
  if (row) return inboxRow ? withReceipt(row, inboxRow) : row;
  if (inboxRow) return inboxLine(inboxRow);
  // A batch written with no row for the person (its event gone) stands for nothing, as on the timeline.
  return batch.writtenAt ? null : batchLine(batch, line.index);
}

/**
 * The id of an inbox row's in-app line: a UUID like every delivery's, of version 8 (RFC 9562's
 * custom layout), `hhhhhhhh-0000-8000-8000-llllllllllll`, the notification's id split into its
 * bits above 48 (`h`) and its low 48 (`l`). Delivery ids are version 7, time first, so the two
 * never meet, and a retry of a line's id finds its row again (findTimelineLine) — and is refused
 * like any in-app delivery's.
 */
export function inboxLineId(notificationId: bigint): string {
  return lineId(0, notificationId, 0);
}

/**
 * The id of the pending in-app line of a batch's `index`-th recipient: laid out as inboxLineId,
 * `hhhhhhhh-0001-8iii-8000-llllllllllll`, with the batch's id and the index (`i`, 12 bits: a
 * batch holds INAPP_BATCH_SIZE). Once the person's inbox row is written the timeline shows its
 * line instead; this id still finds it.
 */
export function batchLineId(batchId: bigint, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 0xfff) throw new RangeError(`a batch line's index is 12 bits: ${index}`);
  return lineId(1, batchId, index);
}

function lineId(kind: 0 | 1, id: bigint, index: number): string {
  const high = (id >> 48n).toString(16).padStart(8, '0');
  const low = (id & 0xffff_ffff_ffffn).toString(16).padStart(12, '0');
  return `${high}-000${kind}-8${index.toString(16).padStart(3, '0')}-8000-${low}`;
}

/** What an inboxLineId or batchLineId carries; null for any other id. */
function lineOfId(id: string): { kind: 'inbox'; id: bigint } | { kind: 'batch'; id: bigint; index: number } | null {
  const parts = LINE_ID.exec(id.toLowerCase());
  if (!parts) return null;
  const rowId = (BigInt(`0x${parts[1]}`) << 48n) | BigInt(`0x${parts[4]}`);
  const index = Number.parseInt(parts[3]!, 16);
  if (parts[2] === '0') return index === 0 ? { kind: 'inbox', id: rowId } : null;
  return { kind: 'batch', id: rowId, index };
}

/** The notification id an inboxLineId carries; null for any other id. */
export function notificationIdOfLine(id: string): bigint | null {
  const line = lineOfId(id);
  return line?.kind === 'inbox' ? line.id : null;
}

const LINE_ID = /^([0-9a-f]{8})-000([01])-8([0-9a-f]{3})-8000-([0-9a-f]{12})$/;

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

/** An in-app line with no row of its own in deliveries: what it says, and nothing of the fields only a stored delivery has. */
function inappLine(
  line: Pick<DeliveryRow, 'id' | 'tenantId' | 'eventId' | 'ruleId' | 'state' | 'priority' | 'attempts' | 'sentAt' | 'deliveredAt' | 'createdAt' | 'updatedAt'> & { userId: string },
): DeliveryRow {
  return { ...line, channel: 'inapp', destination: line.userId, teamId: null, lastError: null, failedAt: null, notBefore: null, fallbackUnless: null, digestId: null, carriedBy: null, jobGroup: null };
}

/** An inbox row as the in-app line of its delivery: sent when written, delivered once a stream carried it. */
function inboxLine(row: InboxLineRow): DeliveryRow {
  return inappLine({
    id: inboxLineId(row.id),
    tenantId: row.tenantId,
    eventId: row.eventId,
    userId: row.userId,
    ruleId: null,
    state: row.deliveredAt ? 'delivered' : 'sent',
    priority: row.priority,
    attempts: 1,
    sentAt: row.createdAt,
    deliveredAt: row.deliveredAt,
    createdAt: row.createdAt,
    updatedAt: row.deliveredAt ?? row.createdAt,
  });
}

/** A batch's `index`-th recipient, whose inbox row is still to be written: pending since the batch was recorded. */
function batchLine(batch: typeof inappBatches.$inferSelect, index: number): DeliveryRow {
  return inappLine({
    id: batchLineId(batch.id, index),
    tenantId: batch.tenantId,
    eventId: batch.eventId,
    userId: batch.recipients.userIds[index]!,
    ruleId: batch.recipients.ruleIds[index] ?? null,
    state: 'pending',
    priority: batch.recipients.priorities[index] ?? batch.priority,
    attempts: 0,
    sentAt: null,
    deliveredAt: null,
    createdAt: batch.createdAt,
    updatedAt: batch.createdAt,
  });
}

/** A delivery row with its inbox row's receipt: pending or sent becomes delivered. */
function withReceipt(row: DeliveryRow, inboxRow: InboxLineRow): DeliveryRow {
  if (!inboxRow.deliveredAt || (row.state !== 'pending' && row.state !== 'sent')) return row;
  const updatedAt = inboxRow.deliveredAt > row.updatedAt ? inboxRow.deliveredAt : row.updatedAt;
  return { ...row, state: 'delivered', deliveredAt: inboxRow.deliveredAt, updatedAt };
}

/** Orders as the timeline always did, by code point, whatever the database's collation. */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
