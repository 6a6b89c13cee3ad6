import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events, pushSubscriptions, rules, teams, users } from '../db/schema.ts';
import { publicView, type EventEnvelope } from '../intake/eventEnvelope.ts';
import { jobIdFor, type Queues } from '../queues/catalog.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import type { Channel } from './channels.ts';
import { candidateRecipients, planDeliveries, type DeliveryPlan, type RoutingInput } from './planDeliveries.ts';

export type RouteDeps = { db: Db; queues: Queues; frames: FramePublisher };

/** Users per in-app job: one job writes its inbox rows in one statement. */
export const INAPP_BATCH_SIZE = 1_000;

/** Rows per INSERT: keeps one statement's JSON parameter bounded for events with very many recipients. */
const INSERT_CHUNK = 5_000;

export type DeliveryQueue = 'email' | 'webhook' | 'chat' | 'push';

/** The queue that sends one stored delivery of a channel; Slack and Teams share `chat`. In-app goes by batches instead. */
export function queueForChannel(channel: Exclude<Channel, 'inapp'>): DeliveryQueue {
  return channel === 'slack' || channel === 'teams' ? 'chat' : channel;
}

/** The job id of a delivery's send: one per delivery row, so enqueuing it again adds nothing. */
export function deliveryJobId(deliveryId: string): string {
  return jobIdFor('delivery', deliveryId);
}

/** The job id of an event's `batch`-th in-app batch (users in sorted order, INAPP_BATCH_SIZE per batch). */
export function inappJobId(eventId: string, batch: number): string {
  return jobIdFor('inapp', eventId, String(batch));
}

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

  const plan = planDeliveries(await loadRoutingInput(db, event));

  await recordPlan(db, event, plan);
  await enqueueInapp(deps.queues, event.id, plan);
  await enqueuePendingDeliveries(deps, event.id);
  // A re-run (the sweeper replacing jobs Redis lost) re-adds what is missing, but the event was announced already.
  if (!row.routedAt) await deps.frames.toTenant(event.tenantId, { type: 'event', data: publicView(event) }).catch(() => {});
  await db.update(events).set({ routedAt: sql`now()` }).where(eq(events.id, eventId));
  return plan;
}

/** Everything the decision reads, in three queries however many recipients the event names. */
async function loadRoutingInput(db: Db, event: EventEnvelope): Promise<RoutingInput> {
  const userIds = candidateRecipients(event);
  const teamIds = [...new Set(event.assigneeTeamIds)];
  const [directoryUsers, directoryTeams, tenantRules] = await Promise.all([
    userIds.length === 0
      ? []
      : db
          .select({
            id: users.id,
            tenantIds: users.tenantIds,
            email: users.email,
            preferences: users.preferences,
            slackWebhookUrl: users.slackWebhookUrl,
            teamsWebhookUrl: users.teamsWebhookUrl,
            hasPushSubscription: sql<boolean>`exists (select 1 from ${pushSubscriptions} where ${pushSubscriptions.userId} = ${users.id})`,
          })
          .from(users)
          .where(sql`${users.id} = any(${sql.param(userIds)}::text[])`),
    teamIds.length === 0
      ? []
      : db
          .select({ id: teams.id, tenantId: teams.tenantId, slackWebhookUrl: teams.slackWebhookUrl, teamsWebhookUrl: teams.teamsWebhookUrl })
          .from(teams)
          .where(sql`${teams.id} = any(${sql.param(teamIds)}::text[])`),
    // Oldest first, so the rule an email is attributed to does not change between runs.
    db
      .select()
      .from(rules)
      .where(and(eq(rules.tenantId, event.tenantId), eq(rules.eventType, event.type), eq(rules.enabled, true)))
      .orderBy(asc(rules.createdAt), asc(rules.id)),
  ]);
  return { event, users: directoryUsers, teams: directoryTeams, rules: tenantRules };
}

async function recordPlan(db: Db, event: EventEnvelope, plan: DeliveryPlan): Promise<void> {
  const rows = [
    ...plan.deliveries.map((d) => ({
      channel: d.channel,
      destination: d.destination,
      user_id: d.userId ?? null,
      rule_id: d.ruleId ?? null,
      team_id: d.teamId ?? null,
      state: 'pending',
      last_error: null,
    })),
    // A skip is about a person, not a channel; it sits on the in-app line of the timeline, where the recipient would have been.
    ...plan.skipped.map((s) => ({ channel: 'inapp', destination: s.userId, user_id: s.userId, rule_id: null, team_id: null, state: 'skipped', last_error: s.reason })),
  ];
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    await db.execute(sql`
      insert into deliveries (event_id, tenant_id, channel, destination, user_id, rule_id, team_id, state, last_error)
      select ${event.id}, ${event.tenantId}, r.channel, r.destination, r.user_id, r.rule_id, r.team_id, r.state, r.last_error
      from jsonb_to_recordset(${JSON.stringify(rows.slice(i, i + INSERT_CHUNK))}::jsonb)
        as r(channel text, destination text, user_id text, rule_id uuid, team_id text, state text, last_error text)
      on conflict (event_id, channel, destination) do nothing
    `);
  }
}

/** The in-app worker takes `{eventId, userIds}` batches and writes each batch in one statement. */
async function enqueueInapp(queues: Queues, eventId: string, plan: DeliveryPlan): Promise<void> {
  const inappUsers = plan.deliveries.filter((d) => d.channel === 'inapp').map((d) => d.destination).sort();
  const jobs = [];
  for (let i = 0; i < inappUsers.length; i += INAPP_BATCH_SIZE) {
    const userIds = inappUsers.slice(i, i + INAPP_BATCH_SIZE);
    jobs.push({ name: 'inapp', data: { eventId, userIds }, opts: { jobId: inappJobId(eventId, i / INAPP_BATCH_SIZE) } });
  }
  if (jobs.length > 0) await queues.inapp.addBulk(jobs);
}

/**
 * One job per stored delivery that is still pending. Read back from the table rather than taken
 * from the plan: a re-run needs the ids of rows an earlier run inserted (ON CONFLICT returns
 * nothing for them), and one that crashed between insert and enqueue is finished here. Sent or
 * failed deliveries are left alone, so a late re-run cannot send twice.
 */
async function enqueuePendingDeliveries(deps: RouteDeps, eventId: string): Promise<void> {
  const pending = await deps.db.execute<{ id: string; channel: Exclude<Channel, 'inapp'> }>(sql`
    select id, channel from deliveries
    where event_id = ${eventId} and channel <> 'inapp' and state = 'pending'
    order by channel, destination
  `);
  const byQueue = new Map<DeliveryQueue, { name: string; data: { deliveryId: string; eventId: string }; opts: { jobId: string } }[]>();
  for (const { id, channel } of pending) {
    const queue = queueForChannel(channel);
    const jobs = byQueue.get(queue) ?? [];
    jobs.push({ name: channel, data: { deliveryId: id, eventId }, opts: { jobId: deliveryJobId(id) } });
    byQueue.set(queue, jobs);
  }
  await Promise.all([...byQueue].map(([queue, jobs]) => deps.queues[queue].addBulk(jobs)));
}
