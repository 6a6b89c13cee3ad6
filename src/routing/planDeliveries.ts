import type { Preferences } from '../db/schema.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Channel } from './channels.ts';
import { wantsChannel } from './preferences.ts';
import { meetsSeverityFilter } from './severity.ts';

/** What routing needs to know of a user named by an event. */
export type DirectoryUser = {
  id: string;
  tenantIds: string[];
  email: string;
  preferences: Preferences;
  slackWebhookUrl: string | null;
  teamsWebhookUrl: string | null;
  /** Whether the user has at least one Web Push subscription. */
  hasPushSubscription: boolean;
};

/** What routing needs to know of a team named in `assigneeTeamIds`. */
export type DirectoryTeam = { id: string; tenantId: string; slackWebhookUrl: string | null; teamsWebhookUrl: string | null };

/** An admin routing rule as stored (SPEC §7). */
export type RoutingRule = {
  id: string;
  tenantId: string;
  eventType: string;
  channel: string;
  severityFilter: string;
  enabled: boolean;
  emailRecipients: string[];
  webhookUrl: string | null;
};

export type RoutingInput = {
  event: EventEnvelope;
  /** The users the event names (any tenant); ids not found here do not exist. */
  users: DirectoryUser[];
  /** The teams the event names (any tenant); ids not found here are ignored. */
  teams?: DirectoryTeam[];
  /** The tenant's rules; rules of another tenant or event type, disabled ones and ones below their threshold do not fire. */
  rules?: RoutingRule[];
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
  ruleId?: string;
  teamId?: string;
};

export type SkippedRecipient = { userId: string; reason: string };

export type DeliveryPlan = { deliveries: PlannedDelivery[]; skipped: SkippedRecipient[] };

const APPROVAL_OUTCOMES = new Set(['approval_approved', 'approval_rejected', 'approval_cancelled', 'approval_expired']);

/**
 * Who the event is about to reach, before tenant membership is checked (SPEC §3.1): approval
 * events route by role; everything else goes to assignees and explicit recipients. The actor
 * is never notified of their own action.
 */
export function candidateRecipients(event: EventEnvelope): string[] {
  let ids: string[];
  if (event.type === 'approval_requested') ids = event.approval?.approverCandidateIds ?? [];
  else if (APPROVAL_OUTCOMES.has(event.type)) ids = event.approval?.requesterId ? [event.approval.requesterId] : [];
  else ids = [...event.assigneeUserIds, ...event.recipientUserIds];
  return [...new Set(ids)].filter((id) => id !== event.actorId);
}

/** The enabled rules of the event's tenant and type whose severity threshold the event meets. */
export function matchingRules(event: EventEnvelope, rules: RoutingRule[]): RoutingRule[] {
  return rules.filter(
    (r) => r.enabled && r.tenantId === event.tenantId && r.eventType === event.type && meetsSeverityFilter(event.severity, r.severityFilter),
  );
}

const emailAddress = (raw: string) => raw.trim().toLowerCase();

/** The routing decision (SPEC §3): plain data in, a delivery plan out. No I/O. */
export function planDeliveries({ event, users, teams = [], rules = [] }: RoutingInput): DeliveryPlan {
  const planned = new Map<string, PlannedDelivery>();
  // The first path to reach a destination keeps it; later ones are the duplicates SPEC §3.7 forbids.
  const plan = (delivery: PlannedDelivery) => {
    const key = `${delivery.channel}\u0000${delivery.destination}`;
    if (!planned.has(key)) planned.set(key, delivery);
  };
  const wants = (user: DirectoryUser, channel: Channel) => wantsChannel(user.preferences, event.type, channel);

  const fired = matchingRules(event, rules);
  const emailRules = fired.filter((r) => r.channel === 'email');
  const { recipients, skipped } = resolveRecipients(event, users);

  for (const user of recipients) {
    if (wants(user, 'inapp')) plan({ channel: 'inapp', destination: user.id, userId: user.id });
    if (emailRules.length > 0 && user.email.trim() !== '' && wants(user, 'email')) {
      plan({ channel: 'email', destination: emailAddress(user.email), userId: user.id, ruleId: emailRules[0]!.id });
    }
    if (user.hasPushSubscription && wants(user, 'push')) plan({ channel: 'push', destination: user.id, userId: user.id });
    if (user.slackWebhookUrl && wants(user, 'slack')) plan({ channel: 'slack', destination: `user:${user.id}`, userId: user.id });
    if (user.teamsWebhookUrl && wants(user, 'teams')) plan({ channel: 'teams', destination: `user:${user.id}`, userId: user.id });
  }

  // Static recipients are addresses the admin chose for the rule, not people: recipients' preferences do not apply.
  for (const rule of emailRules) {
    for (const address of rule.emailRecipients) {
      if (address.trim() !== '') plan({ channel: 'email', destination: emailAddress(address), ruleId: rule.id });
    }
  }
  for (const rule of fired) {
    if (rule.channel === 'webhook' && rule.webhookUrl) plan({ channel: 'webhook', destination: `rule:${rule.id}`, ruleId: rule.id });
  }

  const teamsById = new Map(teams.map((t) => [t.id, t]));
  for (const teamId of new Set(event.assigneeTeamIds)) {
    const team = teamsById.get(teamId);
    if (!team || team.tenantId !== event.tenantId) continue;
    if (team.slackWebhookUrl) plan({ channel: 'slack', destination: `team:${team.id}`, teamId: team.id });
    if (team.teamsWebhookUrl) plan({ channel: 'teams', destination: `team:${team.id}`, teamId: team.id });
  }

  return { deliveries: [...planned.values()], skipped };
}

/** The candidate recipients who are users of the event's tenant, and why each of the others is left out. */
function resolveRecipients(event: EventEnvelope, users: DirectoryUser[]): { recipients: DirectoryUser[]; skipped: SkippedRecipient[] } {
  const usersById = new Map(users.map((u) => [u.id, u]));
  const recipients: DirectoryUser[] = [];
  const skipped: SkippedRecipient[] = [];
  for (const userId of candidateRecipients(event)) {
    const user = usersById.get(userId);
    if (!user) skipped.push({ userId, reason: 'no such user' });
    else if (!user.tenantIds.includes(event.tenantId)) skipped.push({ userId, reason: `not a user of tenant ${event.tenantId}` });
    else recipients.push(user);
  }
  return { recipients, skipped };
}
