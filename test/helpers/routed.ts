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

/** An `acme` event for the rows below: routing one whose assignee list is not a list throws. */
export type UnroutedEvent = { id: string; assignees: string[] | number; acceptedAt?: string };

/**
 * Stores `acme` events as rows with their outbox rows and no route job, as a route job Redis
 * lost leaves them — or, with a number for assignees, as a row no intake would store (an older
 * version's), whose routing throws every time. `acceptedAt` (ISO) backdates a row.
 */
export async function storeUnroutedEvents(client: Sql, events: UnroutedEvent[]): Promise<void> {
  const rows = events.map(({ id, assignees, acceptedAt }) => ({
    id,
    accepted_at: acceptedAt ?? new Date().toISOString(),
    envelope: {
      id, type: 'finding_created', tenantId: 'acme', severity: null, actorId: null, assigneeUserIds: assignees,
      assigneeTeamIds: [], recipientUserIds: [], approval: null, data: { title: id }, occurredAt: new Date().toISOString(),
    },
  }));
  await client`
    with input as (select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id text, accepted_at timestamptz, envelope jsonb)),
    stored as (
      insert into events (id, tenant_id, type, envelope, occurred_at, accepted_at)
      select id, 'acme', 'finding_created', envelope, now(), accepted_at from input
    )
    insert into event_outbox (tenant_id, id, accepted_at) select 'acme', id, accepted_at from input`;
}

/** The group a delivery was routed in (src/deliveries/deliveryGroups.ts); null when it is in none. */
export async function jobGroupOf(client: Sql, deliveryId: string): Promise<string | null> {
  const [row] = await client<{ job_group: string | null }[]>`select job_group from deliveries where id = ${deliveryId}`;
  return row?.job_group ?? null;
}
