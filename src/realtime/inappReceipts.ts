import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { recipientKey } from '../intake/eventEnvelope.ts';
import { inboxRowIds } from '../inbox/inboxWriter.ts';
import type { Logger } from '../logger.ts';
import { deliveriesFinished } from '../metrics/processMetrics.ts';

type Receipt = { tenantId: string; eventId: string; userId: string };

/**
 * The UPDATE that records receipts on their inbox rows, the in-app deliveries' record (the
 * timeline shows a row's in-app line `delivered` from then on, src/deliveries/timeline.ts): the
 * first receipt of a row counts, a replayed frame's changes nothing. The rows are found by the
 * ids inboxRowIds probes for, not joined with the receipts: joined, the planner could put the
 * table outside the loop and probe again for each of its rows (on the deliveries table this
 * statement once updated, 170 ms against 1.7 on a young table, see inappDeliveryIds).
 */
export function receiptUpdate(receipts: Receipt[]): SQL {
  const pairs = { tenantIds: receipts.map((r) => r.tenantId), eventIds: receipts.map((r) => r.eventId), userIds: receipts.map((r) => r.userId) };
  return sql`update notifications n set delivered_at = now() where n.id = any(${inboxRowIds(pairs)}) and n.delivered_at is null`;
}

/**
 * In-app deliveries become `delivered` once a live stream carried them. Receipts are gathered
 * and written in one UPDATE every flush interval, so a busy stream costs no query per frame.
 */
export function createInappReceipts(db: Db, logger: Logger, flushMs = 500) {
  let pending = new Map<string, Receipt>();

  async function flush(): Promise<void> {
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending = new Map();
    try {
      const delivered = await db.execute(receiptUpdate(batch));
      deliveriesFinished.inc({ channel: 'inapp', state: 'delivered' }, delivered.count);
    } catch (err) {
      logger.warn({ err, count: batch.length }, 'could not record in-app delivery receipts');
    }
  }

  const timer = setInterval(() => void flush(), flushMs);
  timer.unref();

  return {
    record(tenantId: string, eventId: string, userId: string): void {
      pending.set(recipientKey({ tenantId, id: eventId }, userId), { tenantId, eventId, userId });
    },
    flush,
    async close(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}
