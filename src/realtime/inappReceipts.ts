import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { deliveriesFinished } from '../metrics/processMetrics.ts';

type Receipt = { tenantId: string; eventId: string; userId: string };

/**
 * The UPDATE that marks receipts' in-app deliveries delivered. Each receipt finds its row
 * through the unique (tenant, event, channel, destination) index, one probe per receipt (the
 * LIMIT keeps the lookup a subquery of its own, which the planner cannot turn into a join), and
 * the rows are then updated by id. Written as a join of the receipts with deliveries, the
 * planner judged from the statistics that few rows are `sent` in-app — most are delivered —
 * and scanned the whole table once per flush, parsing the receipts' JSON again for each
 * row it kept: at 1,000 events/s that one statement took 39 ms a flush, more of Postgres's time
 * than routing, and it would grow with the table.
 */
export function receiptUpdate(receipts: Receipt[]): SQL {
  return sql`
    update deliveries set state = 'delivered', delivered_at = now(), updated_at = now()
    where id = any(array(
      select found.id
      from jsonb_to_recordset(${JSON.stringify(receipts)}::jsonb) as r("tenantId" text, "eventId" text, "userId" text)
      cross join lateral (
        select d.id from deliveries d
        where d.tenant_id = r."tenantId" and d.event_id = r."eventId" and d.channel = 'inapp' and d.destination = r."userId"
        limit 1
      ) as found
    )) and state in ('pending', 'sent')
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
