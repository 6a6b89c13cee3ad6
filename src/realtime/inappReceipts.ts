import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { inappDeliveryIds } from '../inbox/inboxWriter.ts';
import type { Logger } from '../logger.ts';
import { deliveriesFinished } from '../metrics/processMetrics.ts';

type Receipt = { tenantId: string; eventId: string; userId: string };

/**
 * The UPDATE that marks receipts' in-app deliveries delivered, by the ids inappDeliveryIds finds
 * (the receipts' flush was where joining the probes cost most: 170 ms against 1.7 on a young
 * table). `in ('pending', 'sent')` is no test the pending rows' partial index answers.
 */
export function receiptUpdate(receipts: Receipt[]): SQL {
  const pairs = { tenantIds: receipts.map((r) => r.tenantId), eventIds: receipts.map((r) => r.eventId), userIds: receipts.map((r) => r.userId) };
  return sql`
    update deliveries d set state = 'delivered', delivered_at = now(), updated_at = now()
    where d.id = any(${inappDeliveryIds(pairs)}) and d.state in ('pending', 'sent')
  `;
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
      pending.set(`${tenantId}\u0000${eventId}\u0000${userId}`, { tenantId, eventId, userId });
    },
    flush,
    async close(): Promise<void> {
      clearInterval(timer);
      await flush();
    },
  };
}
