import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { inappDeliveriesOf } from '../inbox/inboxWriter.ts';
import type { Logger } from '../logger.ts';
import { deliveriesFinished } from '../metrics/processMetrics.ts';

type Receipt = { tenantId: string; eventId: string; userId: string };

/**
 * The UPDATE that marks receipts' in-app deliveries delivered: their ids, found as
 * inappDeliveriesOf says, go to the UPDATE as one array, so it fetches the rows by primary key
 * (or, on a table of a few hundred rows, scans it once). Joined with the probes instead, it let
 * the planner put a young table's sent rows outside a nested loop and probe every receipt again
 * for each of them: 193 receipts against 200 sent rows took 38,600 probes (170 ms a flush against
 * 1.7 now, medians of six), while on larger tables both forms fetch by key (100 among 6,000
 * rows: 2.9 and 2.5 ms; 1,000 among 110,000: 27 and 19). No column of the probe is needed here;
 * the statements that need one (a refusal's reason) keep the join.
 */
export function receiptUpdate(receipts: Receipt[]): SQL {
  const pairs = { tenantIds: receipts.map((r) => r.tenantId), eventIds: receipts.map((r) => r.eventId), userIds: receipts.map((r) => r.userId) };
  return sql`
    update deliveries d set state = 'delivered', delivered_at = now(), updated_at = now()
    where d.id = any(array(select f.id from ${inappDeliveriesOf(pairs)} as f)) and d.state in ('pending', 'sent')
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
