import { asc, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events, pushSubscriptions, rules, teams, users } from '../db/schema.ts';
import { publicView, type EventEnvelope } from '../intake/eventEnvelope.ts';
import { jobIdFor, type Queues } from '../queues/catalog.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import type { Channel } from './channels.ts';
import { candidateRecipients, planDeliveries, type DeliveryPlan, type RoutingRule } from './planDeliveries.ts';

export type RouteDeps = { db: Db; queues: Queues; frames: FramePublisher };

/** Users per in-app job: one job writes its inbox rows in one statement. */
export const INAPP_BATCH_SIZE = 1_000;

/** Rows per INSERT: bounds one statement's JSON parameter; a large fan-out's chunks are written in parallel. */
const INSERT_CHUNK = 2_500;

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

type Routed = { event: EventEnvelope; plan: DeliveryPlan; announced: boolean };

/**
 * Routes one stored event: load what the decision needs, plan, record the plan as pending
 * deliveries, enqueue the channel jobs, mark the event routed. Every step is idempotent
 * (unique deliveries, deterministic job ids), so a retry or the outbox sweeper can run it again.
 */
export async function routeEvent(deps: RouteDeps, eventId: string): Promise<DeliveryPlan | null> {
  const [plan] = await routeEvents(deps, [eventId]);
  return plan ?? null;
}

/**
 * Routes several stored events together, as `routeEvent` does one, in the same number of round
 * trips as one: the router group-commits the events its concurrent jobs hold. The plan of each
 * id, in order; null for an id that is not stored.
 */
export async function routeEvents(deps: RouteDeps, eventIds: string[]): Promise<(DeliveryPlan | null)[]> {
  const { db } = deps;
  const rows = await db
    .select({ id: events.id, envelope: events.envelope, routedAt: events.routedAt })
    .from(events)
    .where(inArray(events.id, [...new Set(eventIds)]));
  if (rows.length === 0) return eventIds.map(() => null);
  const stored = rows.map((row) => ({ event: row.envelope as unknown as EventEnvelope, announced: row.routedAt !== null }));

  const directory = await loadDirectory(db, stored.map((s) => s.event));
  const routed: Routed[] = stored.map(({ event, announced }) => ({
    event,
    announced,
    plan: planDeliveries({ event, users: directory.users, teams: directory.teams, rules: directory.rulesFor(event) }),
  }));

  await recordPlans(db, routed);
  await enqueueInapp(deps.queues, routed);
  await enqueuePendingDeliveries(deps, routed.map((r) => r.event.id));
  // A re-run (the sweeper replacing jobs Redis lost) re-adds what is missing, but the event was announced already.
  const unannounced = routed.filter((r) => !r.announced);
  await deps.frames.toTenants(unannounced.map(({ event }) => ({ tenantId: event.tenantId, frame: { type: 'event' as const, data: publicView(event) } }))).catch(() => {});
  await db.update(events).set({ routedAt: sql`now()` }).where(inArray(events.id, routed.map((r) => r.event.id)));

  const plans = new Map(routed.map((r) => [r.event.id, r.plan]));
  return eventIds.map((id) => plans.get(id) ?? null);
}

/**
 * Everything the decisions read, in three queries however many events and recipients there
 * are: planDeliveries looks up each event's own candidates, teams and rules in what it is given.
 */
async function loadDirectory(db: Db, routedEvents: EventEnvelope[]) {
  const userIds = [...new Set(routedEvents.flatMap(candidateRecipients))];
  const teamIds = [...new Set(routedEvents.flatMap((e) => e.assigneeTeamIds))];
  const ruleKeys = [...new Map(routedEvents.map((e) => [ruleKey(e.tenantId, e.type), [e.tenantId, e.type] as const])).values()];
  const [directoryUsers, directoryTeams, firingRules] = await Promise.all([
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
      .where(
        sql`${rules.enabled} and (${rules.tenantId}, ${rules.eventType}) in (
          select * from unnest(${sql.param(ruleKeys.map((k) => k[0]))}::text[], ${sql.param(ruleKeys.map((k) => k[1]))}::text[]))`,
      )
      .orderBy(asc(rules.createdAt), asc(rules.id)),
  ]);
  const rulesByKey = new Map<string, RoutingRule[]>();
  for (const rule of firingRules) {
    const key = ruleKey(rule.tenantId, rule.eventType);
    rulesByKey.set(key, [...(rulesByKey.get(key) ?? []), rule]);
  }
  return { users: directoryUsers, teams: directoryTeams, rulesFor: (event: EventEnvelope) => rulesByKey.get(ruleKey(event.tenantId, event.type)) ?? [] };
}

const ruleKey = (tenantId: string, eventType: string) => `${tenantId}\u0000${eventType}`;

async function recordPlans(db: Db, routed: Routed[]): Promise<void> {
  const rows = routed.flatMap(({ event, plan }) => [
    ...plan.deliveries.map((d) => ({
      event_id: event.id,
      tenant_id: event.tenantId,
      channel: d.channel,
      destination: d.destination,
      user_id: d.userId ?? null,
      rule_id: d.ruleId ?? null,
      team_id: d.teamId ?? null,
      state: 'pending',
      last_error: null,
    })),
    // A skip is about a person, not a channel; it sits on the in-app line of the timeline, where the recipient would have been.
    ...plan.skipped.map((s) => ({
      event_id: event.id,
      tenant_id: event.tenantId,
      channel: 'inapp',
      destination: s.userId,
      user_id: s.userId,
      rule_id: null,
      team_id: null,
      state: 'skipped',
      last_error: s.reason,
    })),
  ]);
  // Chunks go out at once, on separate connections: each is idempotent, so a partial failure is retried whole.
  const chunks = [];
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) chunks.push(rows.slice(i, i + INSERT_CHUNK));
  await Promise.all(chunks.map((chunk) => db.execute(sql`
      insert into deliveries (event_id, tenant_id, channel, destination, user_id, rule_id, team_id, state, last_error)
      select r.event_id, r.tenant_id, r.channel, r.destination, r.user_id, r.rule_id, r.team_id, r.state, r.last_error
      from jsonb_to_recordset(${JSON.stringify(chunk)}::jsonb)
        as r(event_id text, tenant_id text, channel text, destination text, user_id text, rule_id uuid, team_id text, state text, last_error text)
      on conflict (event_id, channel, destination) do nothing
    `)));
}

/** The in-app worker takes `{eventId, userIds}` batches and writes each batch in one statement. */
async function enqueueInapp(queues: Queues, routed: Routed[]): Promise<void> {
  const jobs = [];
  for (const { event, plan } of routed) {
    const inappUsers = plan.deliveries.filter((d) => d.channel === 'inapp').map((d) => d.destination).sort();
    for (let i = 0; i < inappUsers.length; i += INAPP_BATCH_SIZE) {
      const userIds = inappUsers.slice(i, i + INAPP_BATCH_SIZE);
      jobs.push({ name: 'inapp', data: { eventId: event.id, userIds }, opts: { jobId: inappJobId(event.id, i / INAPP_BATCH_SIZE) } });
    }
  }
  if (jobs.length > 0) await queues.inapp.addBulk(jobs);
}

/**
 * One job per stored delivery that is still pending. Read back from the table rather than taken
 * from the plan: a re-run needs the ids of rows an earlier run inserted (ON CONFLICT returns
 * nothing for them), and one that crashed between insert and enqueue is finished here. Sent or
 * failed deliveries are left alone, so a late re-run cannot send twice.
 */
async function enqueuePendingDeliveries(deps: RouteDeps, eventIds: string[]): Promise<void> {
  const pending = await deps.db.execute<{ id: string; event_id: string; channel: Exclude<Channel, 'inapp'> }>(sql`
    select id, event_id, channel from deliveries
    where event_id = any(${sql.param(eventIds)}::text[]) and channel <> 'inapp' and state = 'pending'
    order by event_id, channel, destination
  `);
  const byQueue = new Map<DeliveryQueue, { name: string; data: { deliveryId: string; eventId: string }; opts: { jobId: string } }[]>();
  for (const { id, event_id: eventId, channel } of pending) {
    const queue = queueForChannel(channel);
    const jobs = byQueue.get(queue) ?? [];
    jobs.push({ name: channel, data: { deliveryId: id, eventId }, opts: { jobId: deliveryJobId(id) } });
    byQueue.set(queue, jobs);
  }
  await Promise.all([...byQueue].map(([queue, jobs]) => deps.queues[queue].addBulk(jobs)));
}
