import { and, asc, eq, inArray } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { canAccessTenant, type TenantScope } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { deliveryAttempts, events } from '../../db/schema.ts';
import { badRequest, conflict, notFound } from '../../errors.ts';
import { tenantIdSchema } from '../../intake/eventEnvelope.ts';
import { scopedTenantFilter } from './tenantScope.ts';
import type { DeliveryRow } from '../../deliveries/deliveryStore.ts';
import { retryFailedDelivery } from '../../deliveries/retryDelivery.ts';
import { eventTimeline, findTimelineLine } from '../../deliveries/timeline.ts';
import type { Queues } from '../../queues/catalog.ts';
import { generatedIdSchema, parseOrThrow, pathParam } from '../params.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';

type AttemptRow = typeof deliveryAttempts.$inferSelect;

/**
 * One line of the timeline. `destination` is what routing stored — a user id, an address,
 * `rule:<id>`, `team:<id>` or `user:<id>` — never a webhook URL, whose path is a credential.
 */
export function presentDelivery(row: DeliveryRow, attempts: AttemptRow[]) {
  return {
    id: row.id,
    channel: row.channel,
    destination: row.destination,
    state: row.state,
    attempts: row.attempts,
    lastError: row.lastError,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    sentAt: row.sentAt,
    deliveredAt: row.deliveredAt,
    failedAt: row.failedAt,
    notBefore: row.notBefore,
    digestId: row.digestId,
    carriedBy: row.carriedBy,
    attemptLog: attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: a.startedAt,
      durationMs: a.durationMs,
      statusCode: a.statusCode,
      outcome: a.outcome,
      error: a.error,
    })),
  };
}

export const eventTimelineQuery = z.object({ tenantId: tenantIdSchema.optional().meta({ description: 'the event’s tenant; required when the id names events of several tenants in your scope' }) });

/** SPEC §7: an event's delivery timeline across channels, and manual retry of a failed delivery. */
export function deliveriesRouter(deps: { auth: Authenticator; db: Db; queues: Queues }): Router {
  const router = Router();
  const { db } = deps;

  /** Another tenant's delivery is "not found", so ids do not leak across tenants; so is an id that cannot be one. */
  async function findDelivery(id: string, scope: TenantScope): Promise<DeliveryRow> {
    const row = generatedIdSchema.safeParse(id).success ? await findTimelineLine(db, id) : null;
    if (!row || !canAccessTenant(scope, row.tenantId)) throw notFound('delivery');
    return row;
  }

  /**
   * The event an id names in the caller's scope (SPEC §2): ids are unique within a tenant only,
   * so `?tenantId=` picks one; without it an id that names events of several tenants the caller
   * may see is a 400 naming `tenantId`. An event outside the scope is not found, like one that
   * does not exist: the answer never tells that another tenant used an id.
   */
  async function findEvent(eventId: string, scope: TenantScope, tenantId: string | undefined): Promise<{ tenantId: string }> {
    const tenants = scopedTenantFilter(scope, tenantId);
    const found = await db
      .select({ tenantId: events.tenantId })
      .from(events)
      .where(and(eq(events.id, eventId), tenants === null ? undefined : inArray(events.tenantId, tenants)));
    if (found.length === 0) throw notFound('event');
    if (found.length > 1) {
      const message = `required: the id names events of ${found.length} of your tenants`;
      throw badRequest(`tenantId: ${message}`, [{ field: 'tenantId', message }]);
    }
    return found[0]!;
  }

  router.get('/api/v1/events/:id/deliveries', deps.auth.admin, async (req, res) => {
    const eventId = pathParam(req, 'id');
    const { tenantId } = parseOrThrow(eventTimelineQuery, req.query);
    const event = await findEvent(eventId, principalOf(req).tenants, tenantId);

    const rows = await eventTimeline(db, event.tenantId, eventId);
    const ids = rows.filter((r) => r.attempts > 0).map((r) => r.id);
    const attempts =
      ids.length === 0
        ? []
        : await db
            .select()
            .from(deliveryAttempts)
            .where(inArray(deliveryAttempts.deliveryId, ids))
            .orderBy(asc(deliveryAttempts.startedAt), asc(deliveryAttempts.id));
    const attemptsOf = new Map<string, AttemptRow[]>();
    for (const attempt of attempts) attemptsOf.set(attempt.deliveryId, [...(attemptsOf.get(attempt.deliveryId) ?? []), attempt]);
    res.json({ items: rows.map((row) => presentDelivery(row, attemptsOf.get(row.id) ?? [])) });
  });

  router.post('/api/v1/deliveries/:id/retry', deps.auth.admin, async (req, res) => {
    const row = await findDelivery(pathParam(req, 'id'), principalOf(req).tenants);
    const retried = await retryFailedDelivery(db, deps.queues, row);
    if (retried.outcome === 'not_retryable') {
      throw conflict(`${retried.channel} deliveries cannot be retried; only email, webhook, Slack, Teams and push deliveries can`);
    }
    if (retried.outcome === 'not_failed') throw conflict(`delivery is ${retried.state}; only a failed delivery can be retried`);
    res.status(202).json({ id: row.id, state: 'pending' });
  });

  return router;
}
