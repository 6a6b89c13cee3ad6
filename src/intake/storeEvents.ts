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

/** An input envelope's tenant, probed by key (see storeEventsStatement). */
const INPUT_TENANT = sql.raw(`lateral (select 1 from tenants t where t.id = input.e->>'tenantId' offset 0) as tenant`);

/**
 * The INSERT of storeEvents, for envelopes with distinct keys: a row per input (`id, tenant_id,
 * tenant_known, inserted, accepted_at`). Each event's tenant is probed on the tenants' primary
 * key in a LATERAL subquery that OFFSET 0 keeps apart: joined, the input (which Postgres takes
 * for 100 rows, whatever it holds) made a hash of the whole tenants table look cheaper than 100
 * probes, and every INSERT read every tenant (20,000 tenants: ~3.5 ms each on a busy box, 0.5 probing).
 *
 * The envelopes arrive as one `json` array, which Postgres only checks, then splits and parses
 * one envelope at a time, once (MATERIALIZED: inlined, the cast ran again in every expression
 * reading it). As one `jsonb` document taken apart by jsonb_to_recordset into CTEs of every
 * column, a group-committed INSERT of ~500 batched events made Postgres build, take apart and
 * copy ~150 KB a statement: its backend grew and handed back that memory every time, and a
 * quarter of its CPU went to page faults (perf, the bench's batch step). Each column as a text
 * array instead cost the API four times the JSON's serializing.
 *
 * That json array is the statement's only parameter, so Postgres plans it once per connection
 * (a generic plan, from the sixth run on). With the answer's keys in two arrays of their own, it
 * planned every run afresh — an array parameter's length makes each custom plan look cheaper
 * than the generic one — and single events cost its backend 0.35–0.65 ms more (bench,
 * publish → frame at 200 events/s).
 */
export function storeEventsStatement(envelopes: EventEnvelope[]): SQL {
  return sql`
    with input as materialized (
      select value::jsonb as e from json_array_elements(${JSON.stringify(envelopes)}::json)
    ),
    inserted as (
      insert into events (id, tenant_id, type, severity, actor_id, envelope, occurred_at)
      select e->>'id', e->>'tenantId', e->>'type', e->>'severity', e->>'actorId', e, (e->>'occurredAt')::timestamptz
      from input
      cross join ${INPUT_TENANT}
      on conflict (tenant_id, id) do nothing
      returning tenant_id, id, accepted_at
    ),
    queued as (
      insert into event_outbox (tenant_id, id, accepted_at) select tenant_id, id, accepted_at from inserted
    )
    select input.e->>'id' as id, input.e->>'tenantId' as tenant_id,
           tenant is not null as tenant_known,
           exists (select 1 from inserted where inserted.tenant_id = input.e->>'tenantId' and inserted.id = input.e->>'id') as inserted,
           now()::text as accepted_at
    from input
    left join ${INPUT_TENANT} on true`;
}
