import type { Queue } from 'bullmq';
import { canAccessTenant, type TenantScope } from '../auth/principal.ts';
import type { Db } from '../db/client.ts';
import { createGroupCommitter } from '../groupCommit.ts';
import type { Logger } from '../logger.ts';
import { routeJobId, type PayloadOf } from '../queues/catalog.ts';
import { describeProblems, fieldProblems, type FieldProblem } from '../validation.ts';
import { completeEnvelope, eventEnvelopeSchema, type EventEnvelope } from './eventEnvelope.ts';
import { storeEvents, type StoreOutcome } from './storeEvents.ts';

export type AcceptResult =
  | { id: string; status: 'accepted' | 'duplicate' }
  | {
      id: string;
      status: 'rejected';
      error: string;
      code: 'invalid_request' | 'forbidden' | 'unknown_tenant';
      details?: FieldProblem[];
    };

export type Rejection = Extract<AcceptResult, { status: 'rejected' }>;

export type IntakeDeps = { db: Db; routeQueue: Queue<PayloadOf<'route'>>; logger: Logger };

const ENQUEUE_TIMEOUT_MS = 2_000;

/**
 * The one accept path, shared by HTTP and the bus: validate, check scope, store durably, then
 * hand the event to the router. Concurrent accepts are stored by one INSERT (group commit), and
 * the events each INSERT accepted become one route job, so load costs a round trip and a job
 * per group, not per event. An event counts as accepted once its row is committed; if the
 * enqueue fails (Redis away), the outbox sweeper routes it later, so the publisher never waits
 * on or hears about anything downstream.
 */
export function createIntake({ db, routeQueue, logger }: IntakeDeps) {
  const store = createGroupCommitter<EventEnvelope, StoreOutcome>(async (batch) => {
    const { outcomes, acceptedAt } = await storeEvents(db, batch);
    handOff(batch.filter((_, i) => outcomes[i] === 'accepted'), acceptedAt);
    return outcomes;
  });

  function handOff(envelopes: EventEnvelope[], acceptedAt: Date): void {
    if (envelopes.length === 0) return;
    const events = envelopes.map((e) => ({ tenantId: e.tenantId, id: e.id }));
    const job = { events, stored: { envelopes, acceptedAt: acceptedAt.toISOString() } };
    withTimeout(routeQueue.add('route', job, { jobId: routeJobId(events) }), ENQUEUE_TIMEOUT_MS).catch((err: unknown) =>
      logger.warn({ err, count: events.length }, 'route enqueue failed; the outbox sweeper will route these events'),
    );
  }

  /** Validates one raw envelope; a rejection names the field. */
  function prepare(raw: unknown, scope: TenantScope, fieldPrefix: (string | number)[] = []): EventEnvelope | Rejection {
    const parsed = eventEnvelopeSchema.safeParse(raw);
    const rawId = typeof (raw as { id?: unknown })?.id === 'string' ? (raw as { id: string }).id : '';
    if (!parsed.success) {
      const problems = fieldProblems(parsed.error, fieldPrefix);
      return { id: rawId, status: 'rejected', code: 'invalid_request', error: describeProblems(problems), details: problems };
    }
    const envelope = completeEnvelope(parsed.data);
    if (!canAccessTenant(scope, envelope.tenantId)) {
      return { id: envelope.id, status: 'rejected', code: 'forbidden', error: `tenantId: not allowed for tenant ${envelope.tenantId}` };
    }
    return envelope;
  }

  function toResult(envelope: EventEnvelope, outcome: StoreOutcome): AcceptResult {
    if (outcome === 'unknown_tenant') {
      return { id: envelope.id, status: 'rejected', code: 'unknown_tenant', error: `tenantId: unknown tenant ${envelope.tenantId}` };
    }
    return { id: envelope.id, status: outcome };
  }

  /** Accepts many envelopes; each gets its own result, in input order. Database errors propagate. */
  async function acceptEvents(raws: unknown[], scope: TenantScope, fieldPrefix = 'events'): Promise<AcceptResult[]> {
    const prepared = raws.map((raw, i) => prepare(raw, scope, [fieldPrefix, i]));
    const valid = prepared.filter((p): p is EventEnvelope => !('status' in p));
    const outcomes = valid.length > 0 ? await store(valid) : [];
    const outcomeByEnvelope = new Map(valid.map((e, i) => [e, outcomes[i]!]));
    return prepared.map((p) => ('status' in p ? p : toResult(p, outcomeByEnvelope.get(p)!)));
  }

  /** Accepts one envelope: accepted, a duplicate, or rejected with the reason. Database errors propagate. */
  async function acceptEvent(raw: unknown, scope: TenantScope): Promise<AcceptResult> {
    const prepared = prepare(raw, scope);
    if ('status' in prepared) return prepared;
    const [outcome] = await store([prepared]);
    return toResult(prepared, outcome!);
  }

  return { acceptEvent, acceptEvents };
}

export type Intake = ReturnType<typeof createIntake>;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
