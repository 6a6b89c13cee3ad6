import type { Sql } from 'postgres';

/**
 * Of the events with these ids (every event when none are given), the ids of those the router
 * has finished: stored, and out of the outbox (`event_outbox`, src/db/schema.ts). An id stored
 * in two tenants counts twice.
 */
export async function routedEventIds(client: Sql, ids?: string[]): Promise<string[]> {
  const rows = await client<{ id: string }[]>`
    select e.id from events e
    where ${ids ? client`e.id = any(${ids})` : client`true`}
      and not exists (select 1 from event_outbox o where o.tenant_id = e.tenant_id and o.id = e.id)
    order by e.id`;
  return rows.map((row) => row.id);
}
