import { sql, type SQL } from 'drizzle-orm';
import { chunksOf } from '../chunks.ts';
import type { InappRecipients } from '../db/schema.ts';
import { eventKey, type EventRef } from '../intake/eventEnvelope.ts';
import { INAPP_BATCH_SIZE, inappJobId, jobPriority, type PayloadOf } from '../queues/catalog.ts';
import { higherPriority, type Priority } from '../routing/priority.ts';
import type { DbOrTx } from './inboxWriter.ts';

/**
 * A large fan-out's in-app batch as the router records it (the `inapp_batches` table) and the
 * in-app worker writes it: INAPP_BATCH_SIZE recipients of one event, in sorted order, so an
 * event's batches — and their job ids — come out the same on every run.
 */
export type InappBatch = { tenantId: string; eventId: string; batch: number; priority: Priority; recipients: InappRecipients };

/** An in-app delivery the router planned, as batching reads it. */
type PlannedInapp = { destination: string; priority: Priority; ruleId?: string | null };

/** An event's in-app deliveries as its batches; each is as urgent as its most urgent recipient. */
export function inappBatchesOf(event: EventRef, inapp: PlannedInapp[]): InappBatch[] {
  const sorted = [...inapp].sort((a, b) => (a.destination < b.destination ? -1 : a.destination > b.destination ? 1 : 0));
  return chunksOf(sorted, INAPP_BATCH_SIZE).map((members, batch) => ({
    tenantId: event.tenantId,
    eventId: event.id,
    batch,
    priority: members.reduce((p, d) => higherPriority(p, d.priority), 'low' as Priority),
    recipients: {
      userIds: members.map((d) => d.destination),
      priorities: members.map((d) => d.priority),
      ruleIds: members.map((d) => d.ruleId ?? null),
    },
  }));
}

/**
 * The INSERT that records batches, for a WITH item of the routing statement; `gate` is a
 * condition its rows wait for (the inbox heads' locks, so every writer takes its locks heads
 * first). A batch recorded already — a re-run of routing — stays as it is, written or not.
 */
export function recordBatchesStatement(batches: InappBatch[], gate: SQL | null): SQL {
  return sql`
    insert into inapp_batches (tenant_id, event_id, batch, priority, recipients)
    select b.tenant_id, b.event_id, b.batch, b.priority, b.recipients::jsonb
    from unnest(${sql.param(batches.map((b) => b.tenantId))}::text[], ${sql.param(batches.map((b) => b.eventId))}::text[],
                ${sql.param(batches.map((b) => b.batch))}::int[], ${sql.param(batches.map((b) => b.priority))}::text[],
                ${sql.param(batches.map((b) => JSON.stringify(b.recipients)))}::text[])
      as b(tenant_id, event_id, batch, priority, recipients)
    ${gate ? sql`where ${gate}` : sql``}
    on conflict (tenant_id, event_id, batch) do nothing`;
}

/** A batch's job on the in-app queue: it carries the recipients, so the worker need not read them back. */
export function inappBatchJob(batch: InappBatch): { name: 'inapp'; data: PayloadOf<'inapp'>; opts: { jobId: string; priority?: number } } {
  const { tenantId, eventId, recipients } = batch;
  return {
    name: 'inapp',
    data: { tenantId, eventId, batch: batch.batch, userIds: recipients.userIds, priorities: recipients.priorities, ruleIds: recipients.ruleIds },
    opts: { jobId: inappJobId({ tenantId, id: eventId }, batch.batch), ...jobPriority(batch.priority) },
  };
}

/** A batch by its key, as a job names it. */
export type BatchKey = { tenantId: string; eventId: string; batch: number };

/** A batch as a map key. */
const batchKey = (b: BatchKey) => `${eventKey({ tenantId: b.tenantId, id: b.eventId })}\u0000${b.batch}`;

/**
 * Marks batches written once their rows are announced: from then on a re-run of one (a retry,
 * a job the sweeper re-added) has nothing left to announce.
 */
export async function markBatchesWritten(db: DbOrTx, batches: BatchKey[]): Promise<void> {
  if (batches.length === 0) return;
  await db.execute(sql`update inapp_batches set written_at = now() where id = any(${batchIds(batches)}) and written_at is null`);
}

/** These batches but those written already: a written batch's rows went out once, and a re-run must not announce them again. */
export async function unwrittenBatches<B extends BatchKey>(db: DbOrTx, batches: B[]): Promise<B[]> {
  if (batches.length === 0) return [];
  const rows = await db.execute<{ tenant_id: string; event_id: string; batch: number }>(sql`
    select tenant_id, event_id, batch from inapp_batches where id = any(${batchIds(batches)}) and written_at is not null`);
  const written = new Set(rows.map((row) => batchKey({ tenantId: row.tenant_id, eventId: row.event_id, batch: row.batch })));
  return batches.filter((b) => !written.has(batchKey(b)));
}

/**
 * The ids of these batches, for `id = any(…)`: each key probes the unique index in a subquery
 * OFFSET 0 keeps of its own, so the planner cannot make it a join and scan the table instead
 * (inappDeliveryIds in inboxWriter.ts tells what that cost on the deliveries).
 */
function batchIds(batches: BatchKey[]): SQL {
  return sql`array(
    select found.id
    from unnest(${sql.param(batches.map((k) => k.tenantId))}::text[], ${sql.param(batches.map((k) => k.eventId))}::text[], ${sql.param(batches.map((k) => k.batch))}::int[])
      as k(tenant_id, event_id, batch)
    cross join lateral (
      select b.id from inapp_batches b where b.tenant_id = k.tenant_id and b.event_id = k.event_id and b.batch = k.batch offset 0
    ) as found)`;
}
