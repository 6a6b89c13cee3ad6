import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { pushSubscriptions, teams, tenants, users } from '../db/schema.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { candidateRecipients, matchingRules, type DirectoryTeam, type DirectoryUser, type RoutingRule } from './planDeliveries.ts';
import type { RuleCache } from './ruleCache.ts';
import { idsAtPath } from './ruleSpec.ts';

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

type LoadedUser = DirectoryUser & { name: string };

/**
 * Everything the decisions of a group read, in one round of parallel queries however many
 * events, recipients and rules there are: the rules come from the router's cache, whose
 * freshness is checked in the same round (and, only when a tenant's rules changed, read again
 * with a second round); the users are every one an event or a matching rule can name — the
 * events' own, the ids rules list or find in event data, the members of the teams they name,
 * and every holder of the roles they name.
 */
export async function loadDirectory(dbFor: (elements: number) => Db, cache: RuleCache, routedEvents: EventEnvelope[]): Promise<RoutingDirectory> {
  const tenantIds = [...new Set(routedEvents.map((e) => e.tenantId))];
  await cache.ensure(tenantIds);
  for (;;) {
    const directory = await readDirectory(dbFor, cache, routedEvents, tenantIds);
    if (!(await cache.refresh(directory.versions))) return directory;
  }
}

/** Whom an event and its matching rules name: user ids, team ids, and roles of its tenant. */
function namedBy(event: EventEnvelope, rules: RoutingRule[]) {
  const userIds = new Set(candidateRecipients(event));
  if (event.actorId) userIds.add(event.actorId);
  const teamIds = new Set(event.assigneeTeamIds);
  const roles = new Set<string>();
  for (const rule of matchingRules(event, rules)) {
    const spec = rule.recipients;
    if (spec.kind === 'users') for (const id of spec.userIds) userIds.add(id);
    else if (spec.kind === 'data') for (const id of idsAtPath(event.data, spec.path)) userIds.add(id);
    else if (spec.kind === 'teams') for (const id of spec.teamIds) teamIds.add(id);
    else if (spec.kind === 'role') roles.add(spec.role);
  }
  return { userIds, teamIds, roles };
}

async function readDirectory(dbFor: (elements: number) => Db, cache: RuleCache, routedEvents: EventEnvelope[], tenantIds: string[]) {
  const named = new Map(routedEvents.map((event) => [event, namedBy(event, cache.rulesOf(event.tenantId))]));
  const userIds = new Set([...named.values()].flatMap((n) => [...n.userIds]));
  const teamIds = new Set([...named.values()].flatMap((n) => [...n.teamIds]));
  // A role holder is a user whose roles map contains {"<tenant>": ["<role>"]}: the GIN index on roles answers it.
  const roleHolders = [...new Set(routedEvents.flatMap((event) => [...named.get(event)!.roles].map((role) => JSON.stringify({ [event.tenantId]: [role] }))))];

  // The connections are chosen by the arrays' lengths (RouteDeps.genericPlanDb).
  const elements = Math.max(userIds.size, teamIds.size, roleHolders.length, tenantIds.length);
  const [read] = await dbFor(elements).execute<{ users: LoadedUser[]; teams: DirectoryTeam[]; versions: { id: string; version: string }[] }>(
    directoryStatement({ userIds: [...userIds], teamIds: [...teamIds], roleHolders, tenantIds }),
  );
  const { users: directoryUsers, teams: directoryTeams, versions } = read!;

  const usersById = new Map<string, LoadedUser>(directoryUsers.map((u) => [u.id, u]));
  const teamsById = new Map(directoryTeams.map((t) => [t.id, t]));
  const holders = new Map<string, LoadedUser[]>();
  for (const user of directoryUsers) {
    for (const [tenantId, list] of Object.entries(user.roles)) {
      for (const role of list) {
        const key = `${tenantId}\u0000${role}`;
        // Pushed, not copied: a role held by thousands would otherwise cost a copy per holder.
        (holders.get(key) ?? holders.set(key, []).get(key)!).push(user);
      }
    }
  }
  const pick = <T>(byId: Map<string, T>, ids: Iterable<string>) => [...ids].flatMap((id) => byId.get(id) ?? []);
  return {
    versions: new Map(versions.map((v) => [v.id, v.version])),
    usersFor: (event: EventEnvelope) => {
      const { userIds: ids, teamIds: teamsNamed, roles } = named.get(event)!;
      const members = pick(teamsById, teamsNamed).flatMap((team) => team.memberIds);
      const roleUsers = [...roles].flatMap((role) => holders.get(`${event.tenantId}\u0000${role}`) ?? []);
      return [...new Set([...pick(usersById, [...ids, ...members]), ...roleUsers])];
    },
    teamsFor: (event: EventEnvelope) => pick(teamsById, named.get(event)!.teamIds),
    rulesFor: (event: EventEnvelope) => cache.rulesOf(event.tenantId),
    actorNameOf: (event: EventEnvelope) => actorName(event, event.actorId ? usersById.get(event.actorId) : undefined),
  };
}

/** What a routing pass reads from the directory: users by id, the members of teams, holders of `{"<tenant>": ["<role>"]}`, and tenants' rule versions. */
type DirectoryRead = { userIds: string[]; teamIds: string[]; roleHolders: string[]; tenantIds: string[] };

/**
 * One statement for the three reads: a round trip and a backend instead of three (on a loaded
 * box each socket write and wake-up is what a routing pass spends its CPU on). Each way a
 * user is named — listed, a member of a named team, a holder of a named role — is a condition an
 * index answers (the team members as an array the InitPlan reads first), so the planner can
 * OR the three index scans' bitmaps. With the team arm a subquery (`u.id in (select …)`) no
 * index could serve the OR and every pass read the whole users table (300,000 users: 30–58 ms
 * a pass of one event); a UNION of the ids, each fetched in a LATERAL subquery, read only them but
 * cost a small directory's pass three times the statement's time (0.42 against 0.13 ms).
 */
export function directoryStatement({ userIds, teamIds, roleHolders, tenantIds }: DirectoryRead) {
  return sql`
    select
      (select coalesce(json_agg(json_build_object(
          'id', u.id, 'name', u.name, 'tenantIds', u.tenant_ids, 'email', u.email, 'preferences', u.preferences,
          'slackWebhookUrl', u.slack_webhook_url, 'teamsWebhookUrl', u.teams_webhook_url, 'roles', u.roles,
          'timezone', u.timezone, 'quietHours', u.quiet_hours,
          'hasPushSubscription', exists (select 1 from ${pushSubscriptions} p where p.user_id = u.id))), '[]')
        from ${users} u
        where u.id = any(${sql.param(userIds)}::text[])
          or u.id = any(array(select unnest(t.member_ids) from ${teams} t where t.id = any(${sql.param(teamIds)}::text[])))
          or u.roles @> any(${sql.param(roleHolders)}::jsonb[])) as users,
      (select coalesce(json_agg(json_build_object(
          'id', t.id, 'tenantId', t.tenant_id, 'slackWebhookUrl', t.slack_webhook_url, 'teamsWebhookUrl', t.teams_webhook_url, 'memberIds', t.member_ids)), '[]')
        from ${teams} t where t.id = any(${sql.param(teamIds)}::text[])) as teams,
      (select coalesce(json_agg(json_build_object('id', v.id, 'version', v.rules_version::text)), '[]')
        from ${tenants} v where v.id = any(${sql.param(tenantIds)}::text[])) as versions`;
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
