import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { eventKey, type EventEnvelope } from './eventEnvelope.ts';

export type StoreOutcome = 'accepted' | 'duplicate' | 'unknown_tenant';

export type Stored = {
  /** One outcome per input, in order. */
  outcomes: StoreOutcome[];
  /** When the accepted ones were stored (the `accepted_at` of their rows). */
  acceptedAt: Date;
};

/**
 * Inserts a batch of events in one statement, each with its outbox row (the router's to
 * delete): rows of unknown tenants are left out, ids that exist already are left alone
 * (idempotency).
 */
export async function storeEvents(db: Db, envelopes: EventEnvelope[]): Promise<Stored> {
  const firstIndexOfKey = new Map<string, number>();
  const unique: EventEnvelope[] = [];
  envelopes.forEach((e, i) => {
    if (!firstIndexOfKey.has(eventKey(e))) {
      firstIndexOfKey.set(eventKey(e), i);
      unique.push(e);
    }
  });

  const result = await db.execute<{ id: string; tenant_id: string; tenant_known: boolean; inserted: boolean; accepted_at: string }>(storeEventsStatement(unique));

  const outcomeByKey = new Map<string, StoreOutcome>();
  for (const row of result) {
    outcomeByKey.set(eventKey({ tenantId: row.tenant_id, id: row.id }), !row.tenant_known ? 'unknown_tenant' : row.inserted ? 'accepted' : 'duplicate');
  }
  const outcomes = envelopes.map((e, i) => {
    const outcome = outcomeByKey.get(eventKey(e))!;
    // A repeat of an event earlier in the same batch is a duplicate of that one.
    if (firstIndexOfKey.get(eventKey(e)) !== i && outcome === 'accepted') return 'duplicate';
    return outcome;
  });
  // now() is the transaction's start, the very default every inserted row took.
  return { outcomes, acceptedAt: new Date(result[0]!.accepted_at) };
}

/**
 * The INSERT of storeEvents, for envelopes with distinct keys: a row per input (`id, tenant_id,
 * tenant_known, inserted, accepted_at`). Each event's tenant is probed on the tenants' primary
 * key in a LATERAL subquery that OFFSET 0 keeps apart: joined, the input (which Postgres takes
 * for 100 rows, whatever it holds) made a hash of the whole tenants table look cheaper than 100
 * probes, and every INSERT read every tenant (20,000 tenants: ~3.5 ms each on a busy box, 0.5 probing).
 */
export function storeEventsStatement(envelopes: EventEnvelope[]): SQL {
  const rows = envelopes.map((e) => ({
    id: e.id,
    tenant_id: e.tenantId,
    type: e.type,
    severity: e.severity,
    actor_id: e.actorId,
    envelope: e,
    occurred_at: e.occurredAt,
  }));
  return sql`
    with input as (
      select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        as x(id text, tenant_id text, type text, severity text, actor_id text, envelope jsonb, occurred_at timestamptz)
    ),
    known as (
      select input.* from input cross join lateral (select 1 from tenants t where t.id = input.tenant_id offset 0) as tenant
    ),
    inserted as (
      insert into events (id, tenant_id, type, severity, actor_id, envelope, occurred_at)
      select id, tenant_id, type, severity, actor_id, envelope, occurred_at from known
      on conflict (tenant_id, id) do nothing
      returning tenant_id, id, accepted_at
    ),
    queued as (
      insert into event_outbox (tenant_id, id, accepted_at) select tenant_id, id, accepted_at from inserted
    )
    select input.id, input.tenant_id,
           exists (select 1 from known where known.tenant_id = input.tenant_id and known.id = input.id) as tenant_known,
           exists (select 1 from inserted where inserted.tenant_id = input.tenant_id and inserted.id = input.id) as inserted,
           now()::text as accepted_at
    from input`;
}
