import { asc, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { pushSubscriptions, rules, teams, users } from '../db/schema.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { candidateRecipients, type DirectoryTeam, type DirectoryUser, type RoutingRule } from './planDeliveries.ts';

/**
 * What the routing decisions of a group of events read, handed out per event: each event's
 * decision sees only its own candidates, teams and rules, so routing a group costs the sum of
 * its events, not their product.
 */
export type RoutingDirectory = {
  usersFor(event: EventEnvelope): DirectoryUser[];
  teamsFor(event: EventEnvelope): DirectoryTeam[];
  rulesFor(event: EventEnvelope): RoutingRule[];
  /** The name of the event's actor, when the actor is a user of the event's tenant (see actorName). */
  actorNameOf(event: EventEnvelope): string | null;
};

/**
 * Everything the decisions read, in three parallel queries however many events and recipients
 * there are: planDeliveries looks up each event's own candidates, teams and rules in what it is given.
 */
export async function loadDirectory(db: Db, routedEvents: EventEnvelope[]): Promise<RoutingDirectory> {
  const userIds = [...new Set([...routedEvents.flatMap(candidateRecipients), ...routedEvents.flatMap((e) => (e.actorId ? [e.actorId] : []))])];
  const teamIds = [...new Set(routedEvents.flatMap((e) => e.assigneeTeamIds))];
  const pairs = new Map<string, { tenantId: string; eventType: string }>();
  for (const event of routedEvents) pairs.set(ruleKey(event.tenantId, event.type), { tenantId: event.tenantId, eventType: event.type });
  const ruleTenants = [...pairs.values()].map((p) => p.tenantId);
  const ruleTypes = [...pairs.values()].map((p) => p.eventType);

  const [directoryUsers, directoryTeams, firingRules] = await Promise.all([
    userIds.length === 0
      ? []
      : db
          .select({
            id: users.id,
            name: users.name,
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
          select * from unnest(${sql.param(ruleTenants)}::text[], ${sql.param(ruleTypes)}::text[]))`,
      )
      .orderBy(asc(rules.createdAt), asc(rules.id)),
  ]);
  const rulesByKey = new Map<string, RoutingRule[]>();
  for (const rule of firingRules) {
    const key = ruleKey(rule.tenantId, rule.eventType);
    rulesByKey.set(key, [...(rulesByKey.get(key) ?? []), rule]);
  }
  const usersById = new Map(directoryUsers.map((u) => [u.id, u]));
  const teamsById = new Map(directoryTeams.map((t) => [t.id, t]));
  const pick = <T>(byId: Map<string, T>, ids: string[]) => ids.flatMap((id) => byId.get(id) ?? []);
  return {
    usersFor: (event) => pick(usersById, candidateRecipients(event)),
    teamsFor: (event) => pick(teamsById, [...new Set(event.assigneeTeamIds)]),
    rulesFor: (event) => rulesByKey.get(ruleKey(event.tenantId, event.type)) ?? [],
    actorNameOf: (event) => actorName(event, event.actorId ? usersById.get(event.actorId) : undefined),
  };
}

/**
 * The actor's name as a notification shows it, or null. Only a user of the event's own tenant
 * is named: a service could otherwise put another tenant's user id in `actorId` and read that
 * person's name in its own users' inboxes.
 */
export function actorName(event: EventEnvelope, actor: { name: string; tenantIds: string[] } | undefined): string | null {
  return actor && actor.tenantIds.includes(event.tenantId) ? actor.name : null;
}

/** Actors of events as the in-app worker needs them (the router has them from loadDirectory). */
export async function loadActors(db: Db, routedEvents: EventEnvelope[]): Promise<Map<string, { name: string; tenantIds: string[] }>> {
  const ids = [...new Set(routedEvents.flatMap((e) => (e.actorId ? [e.actorId] : [])))];
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ id: users.id, name: users.name, tenantIds: users.tenantIds })
    .from(users)
    .where(sql`${users.id} = any(${sql.param(ids)}::text[])`);
  return new Map(rows.map((row) => [row.id, row]));
}

const ruleKey = (tenantId: string, eventType: string) => `${tenantId}\u0000${eventType}`;
