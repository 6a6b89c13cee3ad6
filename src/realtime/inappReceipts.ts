import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { deliveriesFinished } from '../metrics/processMetrics.ts';

/**
 * In-app deliveries become `delivered` once a live stream carried them. Receipts are gathered
 * and written in one UPDATE every flush interval, so a busy stream costs no query per frame.
 */
export function createInappReceipts(db: Db, logger: Logger, flushMs = 500) {
  let pending = new Map<string, { tenantId: string; eventId: string; userId: string }>();

  async function flush(): Promise<void> {
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending = new Map();
    try {
      const delivered = await db.execute(sql`
        update deliveries d set state = 'delivered', delivered_at = now(), updated_at = now()
        from jsonb_to_recordset(${JSON.stringify(batch)}::jsonb) as r("tenantId" text, "eventId" text, "userId" text)
        where d.tenant_id = r."tenantId" and d.event_id = r."eventId" and d.channel = 'inapp' and d.destination = r."userId" and d.state in ('pending', 'sent')
      `);
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
