import { eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events, users } from '../db/schema.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { jobIdFor, type Queues } from '../queues/catalog.ts';
import type { FramePublisher, PublicEvent } from '../realtime/liveFrames.ts';
import { candidateRecipients, planDeliveries, type DeliveryPlan } from './planDeliveries.ts';

export type RouteDeps = { db: Db; queues: Queues; frames: FramePublisher };

/** Users per in-app job: one job writes its inbox rows in one statement. */
export const INAPP_BATCH_SIZE = 1_000;

/**
 * Routes one stored event: load what the decision needs, plan, record the plan as pending
 * deliveries, enqueue the channel jobs, mark the event routed. Every step is idempotent
 * (unique deliveries, deterministic job ids), so a retry or the outbox sweeper can run it again.
 */
export async function routeEvent(deps: RouteDeps, eventId: string): Promise<DeliveryPlan | null> {
  const { db } = deps;
  const [row] = await db.select({ envelope: events.envelope, routedAt: events.routedAt }).from(events).where(eq(events.id, eventId));
  if (!row) return null;
  const event = row.envelope as unknown as EventEnvelope;

  const named = candidateRecipients(event);
  const directory = named.length > 0 ? await db.select({ id: users.id, tenantIds: users.tenantIds }).from(users).where(inArray(users.id, named)) : [];
  const plan = planDeliveries({ event, users: directory });

  await recordPlan(db, event, plan);
  await enqueuePlan(deps.queues, event.id, plan);
  await deps.frames.toTenant(event.tenantId, { type: 'event', data: publicView(event) }).catch(() => {});
  await db.update(events).set({ routedAt: sql`now()` }).where(eq(events.id, eventId));
  return plan;
}

async function recordPlan(db: Db, event: EventEnvelope, plan: DeliveryPlan): Promise<void> {
  const rows = [
    ...plan.deliveries.map((d) => ({ channel: d.channel, destination: d.destination, user_id: d.userId ?? null, state: 'pending', last_error: null })),
    ...plan.skipped.map((s) => ({ channel: 'inapp', destination: s.userId, user_id: s.userId, state: 'skipped', last_error: s.reason })),
  ];
  for (let i = 0; i < rows.length; i += 5_000) {
    await db.execute(sql`
      insert into deliveries (event_id, tenant_id, channel, destination, user_id, state, last_error)
      select ${event.id}, ${event.tenantId}, r.channel, r.destination, r.user_id, r.state, r.last_error
      from jsonb_to_recordset(${JSON.stringify(rows.slice(i, i + 5_000))}::jsonb)
        as r(channel text, destination text, user_id text, state text, last_error text)
      on conflict (event_id, channel, destination) do nothing
    `);
  }
}

async function enqueuePlan(queues: Queues, eventId: string, plan: DeliveryPlan): Promise<void> {
  const inappUsers = plan.deliveries.filter((d) => d.channel === 'inapp').map((d) => d.destination).sort();
  const jobs = [];
  for (let i = 0; i < inappUsers.length; i += INAPP_BATCH_SIZE) {
    const userIds = inappUsers.slice(i, i + INAPP_BATCH_SIZE);
    jobs.push({ name: 'inapp', data: { eventId, userIds }, opts: { jobId: jobIdFor('inapp', eventId, String(i / INAPP_BATCH_SIZE)) } });
  }
  if (jobs.length > 0) await queues.inapp.addBulk(jobs);
}

export function publicView(event: EventEnvelope): PublicEvent {
  return {
    id: event.id,
    type: event.type,
    tenantId: event.tenantId,
    severity: event.severity,
    occurredAt: event.occurredAt,
    data: event.data,
  };
}
