import type { Preferences } from '../db/schema.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Channel } from './channels.ts';
import { matchesEventPattern } from './eventPattern.ts';
import { wantsChannel } from './preferences.ts';
import { DEFAULT_PRIORITY, higherPriority, priorityRank, type Priority } from './priority.ts';
import type { QuietHours } from '../directory/personSchedule.ts';
import { quietHoursEnd, afterQuietHours } from '../scheduling/quietHours.ts';
import { DIGESTED_CHANNELS, digestKeyValue, waitsOutQuietHours } from '../scheduling/timing.ts';
import { idsAtPath, type RecipientSpec, type RuleContent, type RuleDelivery } from './ruleSpec.ts';
import { meetsSeverityFilter } from './severity.ts';

/** What routing needs to know of a user an event or a rule may reach. */
export type DirectoryUser = {
  id: string;
  tenantIds: string[];
  email: string;
  preferences: Preferences;
  slackWebhookUrl: string | null;
  teamsWebhookUrl: string | null;
  /** Whether the user has at least one Web Push subscription. */
  hasPushSubscription: boolean;
  /** Role names per tenant, for `role` rules. */
  roles: Record<string, string[]>;
  /** IANA time zone and daily quiet hours in it (SPEC §4.1); absent: none. */
  timezone?: string;
  quietHours?: QuietHours | null;
};

/** What routing needs to know of a team: its chat URLs (for `assigneeTeamIds`) and members (for `teams` rules). */
export type DirectoryTeam = { id: string; tenantId: string; slackWebhookUrl: string | null; teamsWebhookUrl: string | null; memberIds: string[] };

/** An admin routing rule as stored (SPEC §3.1); a v1 rule is one with a single channel and the event's recipients. */
export type RoutingRule = {
  id: string;
  tenantId: string;
  /** An exact type or a pattern (see matchesEventPattern). */
  eventType: string;
  channels: readonly Channel[];
  severityFilter: string;
  enabled: boolean;
  emailRecipients: string[];
  webhookUrl: string | null;
  recipients: RecipientSpec;
  priority: Priority | null;
  content: RuleContent | null;
  delivery?: RuleDelivery | null;
};

export type RoutingInput = {
  event: EventEnvelope;
  /** Every user the event or its rules may name (any tenant); ids not found here do not exist. */
  users: DirectoryUser[];
  /** The teams the event or its rules name (any tenant); ids not found here are ignored. */
  teams?: DirectoryTeam[];
  /** The tenant's rules, oldest first (the oldest wins a tie); those that do not match the event do not fire. */
  rules?: RoutingRule[];
  /** The routing time: quiet hours and fallback waits are reckoned from it. */
  now?: Date;
};

export type PlannedDelivery = {
  channel: Channel;
  /**
   * Unique per event and channel, and stable across re-runs, since deliveries are unique on
   * (event, channel, destination): a user id for in-app and push, the lower-cased address for
   * email, `rule:<id>` for webhooks, `team:<id>` or `user:<id>` for Slack and Teams.
   */
  destination: string;
  userId?: string;
  /** The rule it is for: the one whose content it carries, else the oldest rule that produced it. */
  ruleId?: string;
  teamId?: string;
  /** A person's notification priority (SPEC §3.1), or the event's raised by the rules that produced it. */
  priority: Priority;
  /** Held until then (SPEC §4.1): the end of the person's quiet hours, or when a fallback is due. */
  notBefore?: Date;
  /** A fallback (SPEC §4.1): at `notBefore`, skipped if the in-app notification was seen (read) by then; `online` is settled when routing records it. */
  fallbackUnless?: FallbackCondition;
  /** Gathered into the rule's digest window for this destination (SPEC §4.1) rather than sent alone. */
  digest?: PlannedDigest;
};

export type FallbackCondition = 'seen' | 'read' | 'online';

export type PlannedDigest = { ruleId: string; windowSeconds: number; maxItems: number; keyValue: string };

export type SkippedRecipient = { userId: string; reason: string };

export type DeliveryPlan = { deliveries: PlannedDelivery[]; skipped: SkippedRecipient[] };

const APPROVAL_OUTCOMES = new Set(['approval_approved', 'approval_rejected', 'approval_cancelled', 'approval_expired']);

/**
 * Who the event itself is about to reach, before tenant membership is checked (SPEC §3): approval
 * events route by role; everything else goes to assignees and explicit recipients. The actor is
 * never notified of their own action.
 */
export function candidateRecipients(event: EventEnvelope): string[] {
  let ids: string[];
  if (event.type === 'approval_requested') ids = event.approval?.approverCandidateIds ?? [];
  else if (APPROVAL_OUTCOMES.has(event.type)) ids = event.approval?.requesterId ? [event.approval.requesterId] : [];
  else ids = [...event.assigneeUserIds, ...event.recipientUserIds];
  return [...new Set(ids)].filter((id) => id !== event.actorId);
}

/** The enabled rules of the event's tenant whose pattern matches its type and whose severity threshold it meets. */
export function matchingRules(event: EventEnvelope, rules: RoutingRule[]): RoutingRule[] {
  return rules.filter(
    (r) => r.enabled && r.tenantId === event.tenantId && matchesEventPattern(r.eventType, event.type) && meetsSeverityFilter(event.severity, r.severityFilter),
  );
}

/**
 * The user ids a rule names, before membership is checked: what its resolver finds, without the
 * actor. `teamsById` and `users` are what the directory loaded for the event.
 */
export function ruleCandidates(rule: RoutingRule, event: EventEnvelope, teamsById: ReadonlyMap<string, DirectoryTeam>, users: DirectoryUser[]): string[] {
  const spec = rule.recipients;
  let ids: string[];
  switch (spec.kind) {
    case 'event':
      return candidateRecipients(event);
    case 'users':
      ids = spec.userIds;
      break;
    case 'teams':
      ids = spec.teamIds.flatMap((id) => {
        const team = teamsById.get(id);
        return team && team.tenantId === event.tenantId ? team.memberIds : [];
      });
      break;
    case 'role':
      ids = users.filter((u) => u.roles[event.tenantId]?.includes(spec.role)).map((u) => u.id);
      break;
    case 'data':
      ids = idsAtPath(event.data, spec.path);
      break;
  }
  return [...new Set(ids)].filter((id) => id !== event.actorId);
}

const emailAddress = (raw: string) => raw.trim().toLowerCase();
const rankOf = (rule: RoutingRule) => priorityRank(rule.priority ?? DEFAULT_PRIORITY);

type Slot = { delivery: Omit<PlannedDelivery, 'priority' | 'ruleId'>; producers: RoutingRule[] };

/**
 * The routing decision (SPEC §3, §3.1): plain data in, a delivery plan out. No I/O.
 *
 * The event's own recipients get in-app, push and opted-in personal chat as in v1; every
 * matching rule adds its channels for the people its resolver names (webhooks post once per
 * rule); teams the event names get their chat posts. One delivery per channel and destination
 * however many paths reach it. A person's priority is the highest of the event's and of the
 * rules that reached them; each delivery carries the content of the highest-priority rule that
 * produced it and has content (ties: the oldest). Timed delivery (SPEC §4.1): messages of a rule
 * with a digest are marked for its window, messages inside the person's quiet hours are held to
 * their end, and fallbacks are planned as held deliveries of their own.
 */
export function planDeliveries(input: RoutingInput): DeliveryPlan {
  const { event, users, teams = [], rules = [] } = input;
  const usersById = new Map(users.map((u) => [u.id, u]));
  const teamsById = new Map(teams.map((t) => [t.id, t]));
  const skipped = new Map<string, string>();
  /** A user of the event's tenant by id, or undefined with the reason recorded. */
  const member = (userId: string): DirectoryUser | undefined => {
    const user = usersById.get(userId);
    if (user && user.tenantIds.includes(event.tenantId)) return user;
    if (!skipped.has(userId)) skipped.set(userId, user ? `not a user of tenant ${event.tenantId}` : 'no such user');
    return undefined;
  };
  const membersOf = (ids: string[]) => ids.flatMap((id) => member(id) ?? []);

  const slots = new Map<string, Slot>();
  const plan = (delivery: Slot['delivery'], producer: RoutingRule | null) => {
    const key = `${delivery.channel}\u0000${delivery.destination}`;
    let slot = slots.get(key);
    if (!slot) slots.set(key, (slot = { delivery, producers: [] }));
    if (producer && !slot.producers.includes(producer)) slot.producers.push(producer);
  };
  const wants = (user: DirectoryUser, channel: Channel) => wantsChannel(user.preferences, event.type, channel);
  /** Where a person gets a channel's message, or null when they cannot (no address, no device, no URL). */
  const destinationOf = (user: DirectoryUser, channel: Channel): Slot['delivery'] | null => {
    if (channel === 'inapp' || (channel === 'push' && user.hasPushSubscription)) return { channel, destination: user.id, userId: user.id };
    if (channel === 'email' && user.email.trim() !== '') return { channel, destination: emailAddress(user.email), userId: user.id };
    if ((channel === 'slack' && user.slackWebhookUrl) || (channel === 'teams' && user.teamsWebhookUrl)) return { channel, destination: `user:${user.id}`, userId: user.id };
    return null;
  };
  const forUser = (user: DirectoryUser, channel: Channel, producer: RoutingRule | null) => {
    const delivery = wants(user, channel) ? destinationOf(user, channel) : null;
    if (delivery) plan(delivery, producer);
  };

  // The event's own recipients: in-app, push and personal chat without any rule (SPEC §3 items 2, 5, 6).
  for (const user of membersOf(candidateRecipients(event))) {
    for (const channel of ['inapp', 'push', 'slack', 'teams'] as const) forUser(user, channel, null);
  }

  // Every matching rule, for the people it names: who it reached sets their priority, and may get its fallback.
  const reachedBy = new Map<string, RoutingRule[]>();
  for (const rule of matchingRules(event, rules)) {
    const personal = rule.channels.filter((c) => c !== 'webhook');
    if (personal.length > 0) {
      for (const user of membersOf(ruleCandidates(rule, event, teamsById, users))) {
        reachedBy.set(user.id, [...(reachedBy.get(user.id) ?? []), rule]);
        for (const channel of personal) forUser(user, channel, rule);
      }
    }
    // Static recipients are addresses the admin chose for the rule, not people: preferences do not apply.
    if (rule.channels.includes('email')) {
      for (const address of rule.emailRecipients) if (address.trim() !== '') plan({ channel: 'email', destination: emailAddress(address) }, rule);
    }
    if (rule.channels.includes('webhook') && rule.webhookUrl) plan({ channel: 'webhook', destination: `rule:${rule.id}` }, rule);
  }

  // Teams the event names: one post per chat URL, independent of rules and preferences (SPEC §3 item 4).
  for (const teamId of new Set(event.assigneeTeamIds)) {
    const team = teamsById.get(teamId);
    if (!team || team.tenantId !== event.tenantId) continue;
    if (team.slackWebhookUrl) plan({ channel: 'slack', destination: `team:${team.id}`, teamId: team.id }, null);
    if (team.teamsWebhookUrl) plan({ channel: 'teams', destination: `team:${team.id}`, teamId: team.id }, null);
  }

  const eventPriority = event.priority ?? DEFAULT_PRIORITY;
  const raise = (from: Priority, by: RoutingRule[]) => by.reduce((p, rule) => (rule.priority ? higherPriority(p, rule.priority) : p), from);
  const now = input.now ?? new Date();
  const deliveries = [...slots.values()].map(({ delivery, producers }): PlannedDelivery => {
    const priority = raise(eventPriority, delivery.userId ? (reachedBy.get(delivery.userId) ?? []) : producers);
    const withContent = producers.filter((rule) => rule.content);
    // Producers are in rule order (oldest first), so the first of the highest rank is the oldest.
    const ruleId = withContent.length > 0 ? withContent.reduce((best, rule) => (rankOf(rule) > rankOf(best) ? rule : best)).id : producers[0]?.id;
    // Assigned, not `{ ...delivery, ruleId, priority }`: V8 builds a spread followed by more
    // fields on a slow path, ~2 µs a delivery — 20 ms of a 10,000-person fan-out.
    const planned: PlannedDelivery = Object.assign({ priority }, delivery);
    if (ruleId !== undefined) planned.ruleId = ruleId;
    return timed(planned, producers);
  });

  /**
   * SPEC §4.1 at routing time: a message of a rule with a digest joins its window (its time is
   * the window's); any other person's email, push or personal chat inside their quiet hours
   * waits for their end, unless urgent.
   */
  function timed(planned: PlannedDelivery, producers: RoutingRule[]): PlannedDelivery {
    const digesting = DIGESTED_CHANNELS.includes(planned.channel) && !planned.teamId ? producers.find((rule) => rule.delivery?.digest) : undefined;
    if (digesting) {
      const { windowSeconds, maxItems, key } = digesting.delivery!.digest!;
      return { ...planned, digest: { ruleId: digesting.id, windowSeconds, maxItems, keyValue: digestKeyValue(event.data, key) } };
    }
    const person = planned.priority !== 'urgent' && waitsOutQuietHours(planned) ? usersById.get(planned.userId!) : undefined;
    const quietEnd = person ? quietHoursEnd(now, person.timezone ?? 'UTC', person.quietHours) : null;
    return quietEnd ? { ...planned, notBefore: quietEnd } : planned;
  }

  // Fallbacks (SPEC §4.1): for each person with an in-app row, the oldest rule that reached them
  // with a fallback to a channel decides it, unless that channel already carries this event to them.
  const taken = new Set(deliveries.map((d) => `${d.channel}\u0000${d.destination}`));
  for (const inapp of deliveries.filter((d) => d.channel === 'inapp')) {
    const user = usersById.get(inapp.destination)!;
    for (const rule of reachedBy.get(user.id) ?? []) {
      const fallback = rule.delivery?.fallback;
      if (!fallback || !rule.channels.includes('inapp') || !wants(user, fallback.channel)) continue;
      const target = destinationOf(user, fallback.channel);
      if (!target || taken.has(`${target.channel}\u0000${target.destination}`)) continue;
      taken.add(`${target.channel}\u0000${target.destination}`);
      const due = new Date(now.getTime() + fallback.afterSeconds * 1_000);
      const notBefore = inapp.priority === 'urgent' ? due : afterQuietHours(due, user.timezone ?? 'UTC', user.quietHours);
      deliveries.push({ ...target, ruleId: rule.id, priority: inapp.priority, notBefore, fallbackUnless: fallback.unless });
    }
  }
  return { deliveries, skipped: [...skipped].map(([userId, reason]) => ({ userId, reason })) };
}
