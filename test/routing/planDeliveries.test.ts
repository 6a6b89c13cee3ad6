import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/intake/eventEnvelope.ts';
import {
  candidateRecipients,
  planDeliveries,
  type DirectoryTeam,
  type DirectoryUser,
  type RoutingRule,
} from '../../src/routing/planDeliveries.ts';
import { SEVERITIES } from '../../src/routing/severity.ts';

const event = (over: Partial<EventEnvelope> = {}): EventEnvelope => ({
  id: 'evt_1',
  type: 'finding_created',
  tenantId: 'acme',
  severity: 'high',
  actorId: null,
  assigneeUserIds: ['u1'],
  assigneeTeamIds: [],
  recipientUserIds: [],
  approval: null,
  data: {},
  occurredAt: '2026-11-23T10:00:00.000Z',
  ...over,
});

const user = (id: string, over: Partial<DirectoryUser> = {}): DirectoryUser => ({
  id,
  tenantIds: ['acme'],
  email: `${id}@acme.example`,
  preferences: {},
  slackWebhookUrl: null,
  teamsWebhookUrl: null,
  hasPushSubscription: false,
  roles: {},
  ...over,
});

const team = (id: string, over: Partial<DirectoryTeam> = {}): DirectoryTeam => ({
  id,
  tenantId: 'acme',
  slackWebhookUrl: 'https://hooks.slack.com/services/T/B/x',
  teamsWebhookUrl: null,
  memberIds: [],
  ...over,
});

const rule = (id: string, over: Partial<RoutingRule> = {}): RoutingRule => ({
  id,
  tenantId: 'acme',
  eventType: 'finding_created',
  channels: ['email'],
  severityFilter: '',
  enabled: true,
  emailRecipients: [],
  webhookUrl: null,
  recipients: { kind: 'event' },
  priority: null,
  content: null,
  ...over,
});

const emailRule = (over: Partial<RoutingRule> = {}) => rule('r_email', over);
const webhookRule = (over: Partial<RoutingRule> = {}) => rule('r_hook', { channels: ['webhook'], webhookUrl: 'https://hooks.example/in', ...over });

const SLACK = 'https://hooks.slack.com/services/T/B/personal';
const TEAMS = 'https://acme.webhook.office.com/webhookb2/x';

type Row = {
  event?: Partial<EventEnvelope>;
  users?: DirectoryUser[];
  teams?: DirectoryTeam[];
  rules?: RoutingRule[];
  /** Every planned delivery as "<channel> <destination>". */
  deliveries: string[];
  /** Every skipped recipient as "<userId>: <reason>". */
  skipped?: string[];
  /** Some deliveries' priority, by "<channel> <destination>". */
  priorities?: Record<string, string>;
  /** Some deliveries' rule, by "<channel> <destination>" (the rule whose content they carry). */
  ruleIds?: Record<string, string | undefined>;
};

const directory = [user('u1'), user('u2'), user('u3')];

/** At each boundary: the level just below a filter does not fire the rule; the filter's own level does. */
const thresholdRows: [string, Row][] = SEVERITIES.flatMap((filter, i) => {
  const rules = [emailRule({ severityFilter: filter })];
  const fires: [string, Row] = [`§3 a "${filter}" email rule fires for a ${filter} event`, { event: { severity: filter }, rules, deliveries: ['inapp u1', 'email u1@acme.example'] }];
  const below = SEVERITIES[i - 1];
  if (!below) return [fires];
  return [[`§3 a "${filter}" email rule does not fire for a ${below} event`, { event: { severity: below }, rules, deliveries: ['inapp u1'] }], fires];
});

const rows: [string, Row][] = [
  // §3.1 recipients
  ['§3.1 assignees and explicit recipients each get in-app', { event: { assigneeUserIds: ['u1'], recipientUserIds: ['u2'] }, deliveries: ['inapp u1', 'inapp u2'] }],
  ['§3.1 the actor is not notified of their own action', { event: { assigneeUserIds: ['u1', 'u2'], actorId: 'u1' }, deliveries: ['inapp u2'] }],
  ['§3.1 an id that is no user is skipped with its reason', { event: { assigneeUserIds: ['u1', 'ghost'] }, deliveries: ['inapp u1'], skipped: ['ghost: no such user'] }],
  [
    '§3.1 a user of another tenant is skipped and gets nothing, even from a matching rule',
    { event: { assigneeUserIds: ['g1'] }, users: [user('g1', { tenantIds: ['globex'] })], rules: [emailRule()], deliveries: [], skipped: ['g1: not a user of tenant acme'] },
  ],
  [
    '§3.1 approval_requested goes to the approver candidates instead of the assignees',
    { event: { type: 'approval_requested', assigneeUserIds: ['u1'], approval: { requesterId: 'u1', approverCandidateIds: ['u2', 'u3'] } }, deliveries: ['inapp u2', 'inapp u3'] },
  ],
  [
    '§3.1 approval_requested never reaches the actor, even as a candidate',
    { event: { type: 'approval_requested', actorId: 'u2', approval: { requesterId: 'u1', approverCandidateIds: ['u2', 'u3'] } }, deliveries: ['inapp u3'] },
  ],
  ...['approval_approved', 'approval_rejected', 'approval_cancelled', 'approval_expired'].map((type): [string, Row] => [
    `§3.1 ${type} goes to the requester only`,
    { event: { type, assigneeUserIds: ['u2'], recipientUserIds: ['u3'], approval: { requesterId: 'u1', approverCandidateIds: ['u2'] } }, deliveries: ['inapp u1'] },
  ]),
  [
    '§3.1 an approval outcome decided by the requester themself reaches nobody',
    { event: { type: 'approval_cancelled', actorId: 'u1', approval: { requesterId: 'u1', approverCandidateIds: [] } }, deliveries: [] },
  ],

  // §3.2 in-app
  ['§3.2 in-app is on by default', { deliveries: ['inapp u1'] }],
  ['§3.2 a preference turns in-app off for that event type', { users: [user('u1', { preferences: { 'finding_created.inapp': false } })], deliveries: [] }],
  ['§3.2 turning in-app off for another type changes nothing', { users: [user('u1', { preferences: { 'scan_completed.inapp': false } })], deliveries: ['inapp u1'] }],

  // §3.3 email rules
  ['§3.3 without an email rule, nobody gets email', { deliveries: ['inapp u1'] }],
  ['§3.3 an email rule with an empty filter fires', { rules: [emailRule()], deliveries: ['inapp u1', 'email u1@acme.example'] }],
  ...thresholdRows,
  ['§3 an event without a severity matches even an "urgent" rule', { event: { severity: null }, rules: [emailRule({ severityFilter: 'urgent' })], deliveries: ['inapp u1', 'email u1@acme.example'] }],
  ['§3 a stored filter in another case or with spaces is read normalized', { event: { severity: 'critical' }, rules: [emailRule({ severityFilter: ' HIGH ' })], deliveries: ['inapp u1', 'email u1@acme.example'] }],
  ['§3 a stored filter that is not a severity fires for nothing', { event: { severity: 'urgent' }, rules: [emailRule({ severityFilter: 'severe' })], deliveries: ['inapp u1'] }],
  ['§3.3 a disabled rule does not fire', { rules: [emailRule({ enabled: false, emailRecipients: ['ops@acme.example'] })], deliveries: ['inapp u1'] }],
  ['§3.3 a rule for another event type does not fire', { rules: [emailRule({ eventType: 'scan_completed' })], deliveries: ['inapp u1'] }],
  ['§3.3 a rule of another tenant does not fire', { rules: [emailRule({ tenantId: 'globex' })], deliveries: ['inapp u1'] }],
  [
    '§3.3 a recipient who turned email off gets none; static recipients still do',
    { users: [user('u1', { preferences: { 'finding_created.email': false } })], rules: [emailRule({ emailRecipients: ['ops@acme.example'] })], deliveries: ['inapp u1', 'email ops@acme.example'] },
  ],
  ['§3 the legacy key new_finding_email: false turns finding_created email off', { users: [user('u1', { preferences: { new_finding_email: false } })], rules: [emailRule()], deliveries: ['inapp u1'] }],
  [
    '§3 the namespaced key wins over the legacy key (on over off)',
    { users: [user('u1', { preferences: { new_finding_email: false, 'finding_created.email': true } })], rules: [emailRule()], deliveries: ['inapp u1', 'email u1@acme.example'] },
  ],
  [
    '§3 the namespaced key wins over the legacy key (off over on)',
    { users: [user('u1', { preferences: { new_finding_email: true, 'finding_created.email': false } })], rules: [emailRule()], deliveries: ['inapp u1'] },
  ],
  [
    '§3 sla_breach_email stands for sla_breached.email',
    { event: { type: 'sla_breached' }, users: [user('u1', { preferences: { sla_breach_email: false } })], rules: [emailRule({ eventType: 'sla_breached' })], deliveries: ['inapp u1'] },
  ],
  [
    '§3 scan_complete_email stands for scan_completed.email and nothing else',
    { users: [user('u1', { preferences: { scan_complete_email: false } })], rules: [emailRule()], deliveries: ['inapp u1', 'email u1@acme.example'] },
  ],
  ['§3.3 static recipients get email when the event names nobody', { event: { assigneeUserIds: [] }, rules: [emailRule({ emailRecipients: ['ops@acme.example'] })], deliveries: ['email ops@acme.example'] }],
  [
    '§3.7 a static recipient with a recipient’s address (in another case) gets one email',
    { rules: [emailRule({ emailRecipients: ['U1@Acme.Example', 'ops@acme.example'] })], deliveries: ['inapp u1', 'email u1@acme.example', 'email ops@acme.example'] },
  ],
  [
    '§3.7 two matching email rules naming the same static address send one email to it',
    {
      rules: [rule('r_a', { emailRecipients: ['ops@acme.example'] }), rule('r_b', { severityFilter: 'high', emailRecipients: ['ops@acme.example', 'sec@acme.example'] })],
      deliveries: ['inapp u1', 'email u1@acme.example', 'email ops@acme.example', 'email sec@acme.example'],
    },
  ],
  [
    '§3.7 two recipients sharing one address get one email',
    { event: { assigneeUserIds: ['u1', 'u2'] }, users: [user('u1', { email: 'shared@acme.example' }), user('u2', { email: 'Shared@acme.example' })], rules: [emailRule()], deliveries: ['inapp u1', 'inapp u2', 'email shared@acme.example'] },
  ],
  [
    '§3.7 a user named as assignee, recipient and twice over gets one of each',
    { event: { assigneeUserIds: ['u1', 'u1'], recipientUserIds: ['u1'] }, rules: [emailRule()], deliveries: ['inapp u1', 'email u1@acme.example'] },
  ],

  // §3.3 webhooks
  ['§3.3 a matching webhook rule posts once', { rules: [webhookRule()], deliveries: ['inapp u1', 'webhook rule:r_hook'] }],
  [
    '§3.3 each matching webhook rule posts once',
    { rules: [webhookRule(), rule('r_hook2', { channels: ['webhook'], severityFilter: 'medium', webhookUrl: 'https://other.example/in' })], deliveries: ['inapp u1', 'webhook rule:r_hook', 'webhook rule:r_hook2'] },
  ],
  ['§3.3 a webhook rule above the event’s severity does not post', { event: { severity: 'low' }, rules: [webhookRule({ severityFilter: 'medium' })], deliveries: ['inapp u1'] }],
  ['§3.3 a webhook rule without a URL does not post', { rules: [webhookRule({ webhookUrl: null })], deliveries: ['inapp u1'] }],
  ['§3.3 a webhook posts even when the event names nobody', { event: { assigneeUserIds: [] }, rules: [webhookRule()], deliveries: ['webhook rule:r_hook'] }],
  ['§3.3 a disabled webhook rule does not post', { rules: [webhookRule({ enabled: false })], deliveries: ['inapp u1'] }],

  // §3.4 team chat
  [
    '§3.4 a team with Slack and Teams URLs gets one post on each, without any rule',
    { event: { assigneeTeamIds: ['t1'] }, teams: [team('t1', { teamsWebhookUrl: TEAMS })], deliveries: ['inapp u1', 'slack team:t1', 'teams team:t1'] },
  ],
  ['§3.4 a team with only a Slack URL gets only a Slack post', { event: { assigneeTeamIds: ['t1'] }, teams: [team('t1')], deliveries: ['inapp u1', 'slack team:t1'] }],
  ['§3.4 a team without URLs gets nothing', { event: { assigneeTeamIds: ['t1'] }, teams: [team('t1', { slackWebhookUrl: null })], deliveries: ['inapp u1'] }],
  ['§3.4 a team of another tenant is ignored', { event: { assigneeTeamIds: ['t9'] }, teams: [team('t9', { tenantId: 'globex', teamsWebhookUrl: TEAMS })], deliveries: ['inapp u1'] }],
  ['§3.4 an unknown team is ignored and a team named twice posts once', { event: { assigneeTeamIds: ['t1', 'nope', 't1'] }, teams: [team('t1')], deliveries: ['inapp u1', 'slack team:t1'] }],
  [
    '§3.4 team chat ignores the preferences of the people on the event',
    { event: { assigneeTeamIds: ['t1'] }, users: [user('u1', { preferences: { 'finding_created.slack': false, 'finding_created.inapp': false } })], teams: [team('t1')], deliveries: ['slack team:t1'] },
  ],

  // §3.5 personal chat
  ['§3.5 a personal Slack URL alone sends nothing: personal chat is opt-in', { users: [user('u1', { slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS })], deliveries: ['inapp u1'] }],
  [
    '§3.5 opting in to Slack for the event type posts to the user’s Slack',
    { users: [user('u1', { slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS, preferences: { 'finding_created.slack': true } })], deliveries: ['inapp u1', 'slack user:u1'] },
  ],
  ['§3.5 opting in to Teams posts to the user’s Teams', { users: [user('u1', { teamsWebhookUrl: TEAMS, preferences: { 'finding_created.teams': true } })], deliveries: ['inapp u1', 'teams user:u1'] }],
  ['§3.5 opting in without a URL sends nothing', { users: [user('u1', { preferences: { 'finding_created.slack': true, 'finding_created.teams': true } })], deliveries: ['inapp u1'] }],
  [
    '§3.5 a personal Slack post and the team’s Slack post are separate destinations',
    { event: { assigneeTeamIds: ['t1'] }, users: [user('u1', { slackWebhookUrl: SLACK, preferences: { 'finding_created.slack': true } })], teams: [team('t1')], deliveries: ['inapp u1', 'slack user:u1', 'slack team:t1'] },
  ],

  // §3.6 push
  ['§3.6 a user with a push subscription gets push by default', { users: [user('u1', { hasPushSubscription: true })], deliveries: ['inapp u1', 'push u1'] }],
  ['§3.6 a preference turns push off', { users: [user('u1', { hasPushSubscription: true, preferences: { 'finding_created.push': false } })], deliveries: ['inapp u1'] }],
  ['§3.6 without a subscription there is no push', { users: [user('u1', { preferences: { 'finding_created.push': true } })], deliveries: ['inapp u1'] }],
];


// ---- SPEC §3.1 rules v2: patterns × resolvers × priority × content × preferences ----

const inappRule = (id: string, over: Partial<RoutingRule> = {}) => rule(id, { channels: ['inapp'], ...over });
const people = [
  user('u1'),
  user('u2'),
  user('u3'),
  user('adm', { roles: { acme: ['admin'] } }),
  user('adm2', { roles: { acme: ['admin', 'billing'] }, hasPushSubscription: true }),
  user('gadm', { tenantIds: ['globex'], roles: { globex: ['admin'] } }),
  // An admin of globex who is also a plain user of acme: the role is per tenant.
  user('both', { tenantIds: ['acme', 'globex'], roles: { globex: ['admin'] } }),
];
const squad = team('squad', { slackWebhookUrl: null, memberIds: ['u2', 'u3', 'ghost', 'gadm'] });
const otherSquad = team('g_squad', { tenantId: 'globex', slackWebhookUrl: null, memberIds: ['gadm'] });

const v2Rows: [string, Row][] = [
  // patterns
  ['§3.1 pattern provisioning.* matches provisioning.started', { event: { type: 'provisioning.started' }, rules: [inappRule('r', { eventType: 'provisioning.*', recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1', 'inapp u2'] }],
  ['§3.1 pattern provisioning.* matches provisioning.step-completed', { event: { type: 'provisioning.step-completed' }, rules: [inappRule('r', { eventType: 'provisioning.*', recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1', 'inapp u2'] }],
  ['§3.1 pattern provisioning.* does not match order.created', { event: { type: 'order.created' }, rules: [inappRule('r', { eventType: 'provisioning.*', recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1'] }],
  ['§3.1 pattern provisioning.* does not match the bare word provisioning', { event: { type: 'provisioning' }, rules: [inappRule('r', { eventType: 'provisioning.*', recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1'] }],
  ['§3.1 pattern *.failed matches order.failed', { event: { type: 'order.failed' }, rules: [emailRule({ eventType: '*.failed' })], users: people, deliveries: ['inapp u1', 'email u1@acme.example'] }],
  ['§3.1 pattern *.failed matches a deeper provisioning.step.failed', { event: { type: 'provisioning.step.failed' }, rules: [emailRule({ eventType: '*.failed' })], users: people, deliveries: ['inapp u1', 'email u1@acme.example'] }],
  ['§3.1 pattern *.failed does not match order.failed-over', { event: { type: 'order.failed-over' }, rules: [emailRule({ eventType: '*.failed' })], users: people, deliveries: ['inapp u1'] }],
  ['§3.1 pattern * matches every type', { event: { type: 'anything:at_all' }, rules: [emailRule({ eventType: '*' })], users: people, deliveries: ['inapp u1', 'email u1@acme.example'] }],
  ['§3.1 a dot in a pattern is literal, not any character', { event: { type: 'orderXcreated' }, rules: [emailRule({ eventType: 'order.created' })], users: people, deliveries: ['inapp u1'] }],
  ['§3.1 a pattern rule of another tenant does not fire', { event: { type: 'order.failed' }, rules: [emailRule({ eventType: '*', tenantId: 'globex' })], users: people, deliveries: ['inapp u1'] }],
  ['§3.1 a pattern rule still meets its severity threshold', { event: { type: 'order.failed', severity: 'low' }, rules: [emailRule({ eventType: '*.failed', severityFilter: 'high' })], users: people, deliveries: ['inapp u1'] }],

  // channels per rule
  ['§3.1 a rule with several channels delivers each to its recipients', { rules: [rule('r', { channels: ['email', 'push', 'inapp'] })], users: [user('u1', { hasPushSubscription: true })], deliveries: ['inapp u1', 'email u1@acme.example', 'push u1'] }],
  ['§3.1 a rule’s slack channel is personal chat, still opt-in', { rules: [rule('r', { channels: ['slack'] })], users: [user('u1', { slackWebhookUrl: SLACK })], deliveries: ['inapp u1'] }],
  ['§3.1 a rule’s slack channel posts to a user who opted in', { rules: [rule('r', { channels: ['slack'] })], users: [user('u1', { slackWebhookUrl: SLACK, preferences: { 'finding_created.slack': true } })], deliveries: ['inapp u1', 'slack user:u1'] }],
  ['§3.1 a rule’s teams channel posts to a user who opted in', { rules: [rule('r', { channels: ['teams'], recipients: { kind: 'users', userIds: ['u2'] } })], users: [user('u1'), user('u2', { teamsWebhookUrl: TEAMS, preferences: { 'finding_created.teams': true } })], deliveries: ['inapp u1', 'teams user:u2'] }],
  ['§3.1 webhook posts once per rule and ignores the rule’s recipients', { rules: [rule('r', { channels: ['webhook', 'inapp'], webhookUrl: 'https://hooks.example/in', recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1', 'inapp u2', 'webhook rule:r'] }],

  // resolvers
  ['§3.1 users resolver reaches the listed users on the rule’s channels', { rules: [inappRule('r', { recipients: { kind: 'users', userIds: ['u2', 'u3'] } })], users: people, deliveries: ['inapp u1', 'inapp u2', 'inapp u3'] }],
  ['§3.1 users resolver skips unknown ids and users of other tenants with the reason', { rules: [inappRule('r', { recipients: { kind: 'users', userIds: ['u2', 'nobody', 'gadm'] } })], users: people, deliveries: ['inapp u1', 'inapp u2'], skipped: ['nobody: no such user', 'gadm: not a user of tenant acme'] }],
  ['§3.1 users resolver never reaches the actor', { event: { actorId: 'u2' }, rules: [inappRule('r', { recipients: { kind: 'users', userIds: ['u2', 'u3'] } })], users: people, deliveries: ['inapp u1', 'inapp u3'] }],
  ['§3.1 teams resolver reaches members of the tenant’s team, skipping strangers', { rules: [inappRule('r', { recipients: { kind: 'teams', teamIds: ['squad'] } })], users: people, teams: [squad], deliveries: ['inapp u1', 'inapp u2', 'inapp u3'], skipped: ['ghost: no such user', 'gadm: not a user of tenant acme'] }],
  ['§3.1 teams resolver ignores another tenant’s team', { rules: [inappRule('r', { recipients: { kind: 'teams', teamIds: ['g_squad'] } })], users: people, teams: [otherSquad], deliveries: ['inapp u1'] }],
  ['§3.1 teams resolver does not post to the team’s chat: that is for teams the event names', { rules: [inappRule('r', { recipients: { kind: 'teams', teamIds: ['squad'] } })], users: people, teams: [{ ...squad, slackWebhookUrl: SLACK }], deliveries: ['inapp u1', 'inapp u2', 'inapp u3'], skipped: ['ghost: no such user', 'gadm: not a user of tenant acme'] }],
  ['§3.1 role resolver reaches the tenant’s admins only', { rules: [inappRule('r', { recipients: { kind: 'role', role: 'admin' } })], users: people, deliveries: ['inapp u1', 'inapp adm', 'inapp adm2'] }],
  ['§3.1 role resolver: a role held in another tenant does not count', { event: { tenantId: 'acme' }, rules: [inappRule('r', { recipients: { kind: 'role', role: 'admin' } })], users: people, deliveries: ['inapp u1', 'inapp adm', 'inapp adm2'] }],
  ['§3.1 role resolver with a role nobody holds reaches nobody', { rules: [inappRule('r', { recipients: { kind: 'role', role: 'auditor' } })], users: people, deliveries: ['inapp u1'] }],
  ['§3.1 role resolver: an admin who is the actor is left out', { event: { actorId: 'adm' }, rules: [inappRule('r', { recipients: { kind: 'role', role: 'admin' } })], users: people, deliveries: ['inapp u1', 'inapp adm2'] }],
  ['§3.1 data resolver takes an array of ids', { event: { assigneeUserIds: [], data: { participantIds: ['u1', 'u2', 'u3'] } }, rules: [inappRule('r', { recipients: { kind: 'data', path: 'participantIds' } })], users: people, deliveries: ['inapp u1', 'inapp u2', 'inapp u3'] }],
  ['§3.1 data resolver takes a single id', { event: { assigneeUserIds: [], data: { ownerId: 'u3' } }, rules: [inappRule('r', { recipients: { kind: 'data', path: 'ownerId' } })], users: people, deliveries: ['inapp u3'] }],
  ['§3.1 data resolver follows a dotted path', { event: { assigneeUserIds: [], data: { order: { ownerId: 'u2' } } }, rules: [inappRule('r', { recipients: { kind: 'data', path: 'order.ownerId' } })], users: people, deliveries: ['inapp u2'] }],
  ['§3.1 data resolver: every participant but the sender', { event: { assigneeUserIds: [], actorId: 'u1', data: { participantIds: ['u1', 'u2', 'u3'] } }, rules: [inappRule('r', { recipients: { kind: 'data', path: 'participantIds' } })], users: people, deliveries: ['inapp u2', 'inapp u3'] }],
  ['§3.1 data resolver: a missing path or a non-string value names nobody', { event: { assigneeUserIds: [], data: { participantIds: [42, null, { id: 'u1' }] } }, rules: [inappRule('r', { recipients: { kind: 'data', path: 'participantIds' } }), inappRule('r2', { recipients: { kind: 'data', path: 'nowhere.at.all' } })], users: people, deliveries: [] }],
  ['§3.1 data resolver skips unknown ids with the reason', { event: { assigneeUserIds: [], data: { participantIds: ['u2', 'ghost'] } }, rules: [inappRule('r', { recipients: { kind: 'data', path: 'participantIds' } })], users: people, deliveries: ['inapp u2'], skipped: ['ghost: no such user'] }],
  ['§3.1 event resolver with approval roles reaches the approvers', { event: { type: 'approval_requested', approval: { requesterId: 'u1', approverCandidateIds: ['u2'] } }, rules: [rule('r', { eventType: 'approval_*', channels: ['email'] })], users: people, deliveries: ['inapp u2', 'email u2@acme.example'] }],

  // in-app only on a rule's channels for people reached only through it
  ['§3.1 a person reached only by a rule without inapp gets no in-app row', { rules: [rule('r', { channels: ['email'], recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1', 'email u2@acme.example'] }],
  ['§3.1 the event’s own recipients keep their in-app row whatever rules say', { rules: [rule('r', { channels: ['email'] })], users: people, deliveries: ['inapp u1', 'email u1@acme.example'] }],

  // preferences
  ['§3.1 preferences apply to resolver recipients: in-app off', { rules: [inappRule('r', { recipients: { kind: 'users', userIds: ['u2'] } })], users: [user('u1'), user('u2', { preferences: { 'finding_created.inapp': false } })], deliveries: ['inapp u1'] }],
  ['§3.1 preferences apply to resolver recipients: email off', { rules: [rule('r', { channels: ['email'], recipients: { kind: 'role', role: 'admin' } })], users: [user('u1'), user('adm', { roles: { acme: ['admin'] }, preferences: { 'finding_created.email': false } })], deliveries: ['inapp u1'] }],
  ['§3.1 preferences apply to resolver recipients: push off', { rules: [rule('r', { channels: ['push'], recipients: { kind: 'role', role: 'billing' } })], users: [user('u1'), user('adm2', { roles: { acme: ['billing'] }, hasPushSubscription: true, preferences: { 'finding_created.push': false } })], deliveries: ['inapp u1'] }],
  ['§3.1 push through a rule needs a subscription', { rules: [rule('r', { channels: ['push'], recipients: { kind: 'users', userIds: ['u2'] } })], users: people, deliveries: ['inapp u1'] }],

  // dedup
  ['§3.7 two rules reaching one person on one channel make one delivery', { rules: [inappRule('a', { recipients: { kind: 'users', userIds: ['u2'] } }), inappRule('b', { recipients: { kind: 'role', role: 'admin' } })], users: [user('u1'), user('u2', { roles: { acme: ['admin'] } })], deliveries: ['inapp u1', 'inapp u2'] }],
  ['§3.7 a person named by the event and by a rule gets one in-app row', { rules: [inappRule('r', { recipients: { kind: 'users', userIds: ['u1'] } })], users: people, deliveries: ['inapp u1'] }],

  // priority
  ['§3.1 the event’s priority is every delivery’s priority', { event: { priority: 'high' }, rules: [emailRule({ emailRecipients: ['ops@acme.example'] })], users: people, deliveries: ['inapp u1', 'email u1@acme.example', 'email ops@acme.example'], priorities: { 'inapp u1': 'high', 'email ops@acme.example': 'high' } }],
  ['§3.1 without any priority a notification is normal', { users: people, deliveries: ['inapp u1'], priorities: { 'inapp u1': 'normal' } }],
  ['§3.1 a rule raises the priority of the people it reaches', { rules: [rule('r', { channels: ['email'], priority: 'urgent' })], users: people, deliveries: ['inapp u1', 'email u1@acme.example'], priorities: { 'inapp u1': 'urgent', 'email u1@acme.example': 'urgent' } }],
  ['§3.1 a rule never lowers the event’s priority', { event: { priority: 'high' }, rules: [rule('r', { channels: ['inapp'], priority: 'low' })], users: people, deliveries: ['inapp u1'], priorities: { 'inapp u1': 'high' } }],
  ['§3.1 a rule’s priority reaches only its own recipients', { rules: [inappRule('r', { recipients: { kind: 'users', userIds: ['u2'] }, priority: 'high' })], users: people, deliveries: ['inapp u1', 'inapp u2'], priorities: { 'inapp u1': 'normal', 'inapp u2': 'high' } }],
  ['§3.1 the highest of several rules’ priorities wins', { rules: [inappRule('a', { priority: 'high' }), inappRule('b', { recipients: { kind: 'users', userIds: ['u1'] }, priority: 'urgent' })], users: people, deliveries: ['inapp u1'], priorities: { 'inapp u1': 'urgent' } }],
  ['§3.1 a webhook takes its rule’s priority', { rules: [webhookRule({ priority: 'urgent' })], users: people, deliveries: ['inapp u1', 'webhook rule:r_hook'], priorities: { 'webhook rule:r_hook': 'urgent' } }],

  // content
  ['§3.1 a rule’s content goes with what it produces', { rules: [inappRule('r', { content: { title: 'T' } })], users: people, deliveries: ['inapp u1'], ruleIds: { 'inapp u1': 'r' } }],
  ['§3.1 the content of the highest-priority rule wins', { rules: [inappRule('low', { priority: 'low', content: { title: 'L' } }), inappRule('high', { priority: 'high', content: { title: 'H' } })], users: people, deliveries: ['inapp u1'], ruleIds: { 'inapp u1': 'high' } }],
  ['§3.1 on equal priority the oldest rule’s content wins', { rules: [inappRule('older', { content: { title: 'O' } }), inappRule('newer', { content: { title: 'N' } })], users: people, deliveries: ['inapp u1'], ruleIds: { 'inapp u1': 'older' } }],
  ['§3.1 a rule without content does not take the row from one with content', { rules: [inappRule('plain', { priority: 'urgent' }), inappRule('styled', { content: { title: 'S' } })], users: people, deliveries: ['inapp u1'], ruleIds: { 'inapp u1': 'styled' } }],
  ['§3.1 a rule’s content applies only to the channels it produces', { rules: [rule('r', { channels: ['email'], content: { title: 'T' } })], users: people, deliveries: ['inapp u1', 'email u1@acme.example'], ruleIds: { 'inapp u1': undefined, 'email u1@acme.example': 'r' } }],
];

describe('planDeliveries (SPEC §3)', () => {
  it.each([...rows, ...v2Rows])('%s', (_name, row) => {
    const plan = planDeliveries({ event: event(row.event), users: row.users ?? directory, teams: row.teams ?? [], rules: row.rules ?? [] });
    expect(plan.deliveries.map((d) => `${d.channel} ${d.destination}`).sort()).toEqual([...row.deliveries].sort());
    expect(plan.skipped.map((s) => `${s.userId}: ${s.reason}`)).toEqual(row.skipped ?? []);
    const byKey = new Map(plan.deliveries.map((d) => [`${d.channel} ${d.destination}`, d]));
    for (const [key, priority] of Object.entries(row.priorities ?? {})) expect(byKey.get(key)?.priority, key).toBe(priority);
    for (const [key, ruleId] of Object.entries(row.ruleIds ?? {})) expect(byKey.get(key)?.ruleId, key).toBe(ruleId);
  });

  it('attributes each delivery to the user, rule or team it is for', () => {
    const plan = planDeliveries({
      event: event({ assigneeUserIds: ['u1'], assigneeTeamIds: ['t1'] }),
      users: [user('u1', { hasPushSubscription: true })],
      teams: [team('t1')],
      rules: [rule('r_first', { emailRecipients: ['ops@acme.example'] }), rule('r_second', { severityFilter: 'low', emailRecipients: ['ops@acme.example'] }), webhookRule()],
    });
    expect(plan.deliveries).toEqual(
      expect.arrayContaining([
        { channel: 'inapp', destination: 'u1', userId: 'u1', priority: 'normal' },
        { channel: 'push', destination: 'u1', userId: 'u1', priority: 'normal' },
        // A recipient's own address keeps the person, so templates can greet them; the first matching rule claims it.
        { channel: 'email', destination: 'u1@acme.example', userId: 'u1', ruleId: 'r_first', priority: 'normal' },
        { channel: 'email', destination: 'ops@acme.example', ruleId: 'r_first', priority: 'normal' },
        { channel: 'webhook', destination: 'rule:r_hook', ruleId: 'r_hook', priority: 'normal' },
        { channel: 'slack', destination: 'team:t1', teamId: 't1', priority: 'normal' },
      ]),
    );
    expect(plan.deliveries).toHaveLength(6);
  });

  it('plans the same destinations in the same order on every run', () => {
    const input = { event: event({ assigneeUserIds: ['u3', 'u1', 'u2'] }), users: directory, rules: [emailRule({ emailRecipients: ['ops@acme.example'] }), webhookRule()] };
    expect(planDeliveries(input)).toEqual(planDeliveries(input));
  });
});

describe('candidateRecipients', () => {
  it('lists assignees then recipients once each, without the actor', () => {
    expect(candidateRecipients(event({ assigneeUserIds: ['u2', 'u1'], recipientUserIds: ['u1', 'u3', 'u4'], actorId: 'u4' }))).toEqual(['u2', 'u1', 'u3']);
  });

  it('treats an approval event without its approval block as naming nobody', () => {
    expect(candidateRecipients(event({ type: 'approval_requested', assigneeUserIds: ['u1'] }))).toEqual([]);
    expect(candidateRecipients(event({ type: 'approval_expired', assigneeUserIds: ['u1'] }))).toEqual([]);
  });
});

describe('planDeliveries: timed delivery (SPEC §4.1)', () => {
  const NOW = new Date('2026-06-10T23:00:00Z');
  const sleeper = (id: string, over: Partial<DirectoryUser> = {}) => user(id, { timezone: 'UTC', quietHours: { start: '22:00', end: '07:00' }, ...over });
  const withFallback = (id: string, fallback: NonNullable<NonNullable<RoutingRule['delivery']>['fallback']>, over: Partial<RoutingRule> = {}) =>
    rule(id, { channels: ['inapp'], delivery: { fallback }, ...over });
  const withDigest = (id: string, channels: RoutingRule['channels'], digest: { windowSeconds: number; maxItems: number; key?: string }, over: Partial<RoutingRule> = {}) =>
    rule(id, { channels, delivery: { digest }, ...over });

  type TimedRow = {
    event?: Partial<EventEnvelope>;
    users: DirectoryUser[];
    rules?: RoutingRule[];
    teams?: DirectoryTeam[];
    /** Every planned delivery as "<channel> <destination>", with how it is timed: "now", "held <ISO>", "fallback <unless> <ISO>", "digest <rule> <window>s max <n> key '<value>'". */
    deliveries: string[];
  };

  function describeTiming(d: ReturnType<typeof planDeliveries>['deliveries'][number]): string {
    const what = `${d.channel} ${d.destination}`;
    if (d.digest) return `${what} digest ${d.digest.ruleId} ${d.digest.windowSeconds}s max ${d.digest.maxItems} key '${d.digest.keyValue}'`;
    if (d.fallbackUnless) return `${what} fallback ${d.fallbackUnless} ${d.notBefore!.toISOString()}`;
    if (d.notBefore) return `${what} held ${d.notBefore.toISOString()}`;
    return `${what} now`;
  }

  const MORNING = '2026-06-11T07:00:00.000Z';
  const rows: [string, TimedRow][] = [
    // quiet hours
    ['email, push and personal chat inside quiet hours wait for their end; in-app does not', {
      users: [sleeper('u1', { hasPushSubscription: true, slackWebhookUrl: SLACK, preferences: { 'finding_created.slack': true } })],
      rules: [emailRule()],
      deliveries: ['inapp u1 now', `push u1 held ${MORNING}`, `slack user:u1 held ${MORNING}`, `email u1@acme.example held ${MORNING}`],
    }],
    ['urgent goes through quiet hours', { event: { priority: 'urgent' }, users: [sleeper('u1', { hasPushSubscription: true })], rules: [emailRule()], deliveries: ['inapp u1 now', 'push u1 now', 'email u1@acme.example now'] }],
    ['a rule that raises a person to urgent lets their messages through', { users: [sleeper('u1')], rules: [emailRule({ priority: 'urgent' })], deliveries: ['inapp u1 now', 'email u1@acme.example now'] }],
    ['team chat, webhooks and static addresses are never held', {
      event: { assigneeTeamIds: ['t1'] },
      users: [sleeper('u1')],
      teams: [team('t1')],
      rules: [webhookRule(), emailRule({ emailRecipients: ['ops@acme.example'] })],
      deliveries: ['inapp u1 now', `email u1@acme.example held ${MORNING}`, 'email ops@acme.example now', 'slack team:t1 now', 'webhook rule:r_hook now'],
    }],
    ['outside quiet hours nothing waits', { users: [sleeper('u1', { quietHours: { start: '01:00', end: '06:00' } })], rules: [emailRule()], deliveries: ['inapp u1 now', 'email u1@acme.example now'] }],
    ['quiet hours are read on the person’s clock (Berlin, 01:00 local)', {
      users: [sleeper('u1', { timezone: 'Europe/Berlin' })],
      rules: [emailRule()],
      deliveries: ['inapp u1 now', 'email u1@acme.example held 2026-06-11T05:00:00.000Z'],
    }],
    ['start equal to end means no quiet hours', { users: [sleeper('u1', { quietHours: { start: '22:00', end: '22:00' } })], rules: [emailRule()], deliveries: ['inapp u1 now', 'email u1@acme.example now'] }],
    ['each person waits for their own quiet hours', {
      event: { assigneeUserIds: ['u1', 'u2'] },
      users: [sleeper('u1'), user('u2')],
      rules: [emailRule()],
      deliveries: ['inapp u1 now', 'inapp u2 now', `email u1@acme.example held ${MORNING}`, 'email u2@acme.example now'],
    }],

    // fallback
    ['a fallback to email is planned for each person the rule reaches, due after its wait', {
      event: { assigneeUserIds: ['u1', 'u2'] },
      users: [user('u1'), user('u2')],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 300, unless: 'seen' })],
      deliveries: ['inapp u1 now', 'inapp u2 now', 'email u1@acme.example fallback seen 2026-06-10T23:05:00.000Z', 'email u2@acme.example fallback seen 2026-06-10T23:05:00.000Z'],
    }],
    ['a fallback to push needs a device', {
      event: { assigneeUserIds: [] },
      users: [user('u1', { hasPushSubscription: true, roles: { acme: ['oncall'] } }), user('u2', { roles: { acme: ['oncall'] } })],
      rules: [withFallback('f', { channel: 'push', afterSeconds: 60, unless: 'read' }, { recipients: { kind: 'role', role: 'oncall' } })],
      deliveries: ['inapp u1 now', 'inapp u2 now', 'push u1 fallback read 2026-06-10T23:01:00.000Z'],
    }],
    ['an event recipient’s own push is no fallback', {
      users: [user('u1', { hasPushSubscription: true })],
      rules: [withFallback('f', { channel: 'push', afterSeconds: 60, unless: 'read' })],
      deliveries: ['inapp u1 now', 'push u1 now'],
    }],
    ['no fallback where the channel already carries the event to the person', {
      users: [user('u1')],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 60, unless: 'seen' }), emailRule()],
      deliveries: ['inapp u1 now', 'email u1@acme.example now'],
    }],
    ['no fallback to a channel the person turned off', {
      users: [user('u1', { preferences: { 'finding_created.email': false } })],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 60, unless: 'seen' })],
      deliveries: ['inapp u1 now'],
    }],
    ['no fallback for a person without an in-app row', {
      users: [user('u1', { preferences: { 'finding_created.inapp': false } })],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 60, unless: 'seen' })],
      deliveries: [],
    }],
    ['a fallback reaches only whom its rule reaches', {
      event: { assigneeUserIds: ['u1'] },
      users: [user('u1'), user('u2', { roles: { acme: ['admin'] } })],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 0, unless: 'online' }, { recipients: { kind: 'role', role: 'admin' } })],
      deliveries: ['inapp u1 now', 'inapp u2 now', 'email u2@acme.example fallback online 2026-06-10T23:00:00.000Z'],
    }],
    ['a fallback due in quiet hours waits for their end', {
      users: [sleeper('u1')],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 300, unless: 'seen' })],
      deliveries: ['inapp u1 now', `email u1@acme.example fallback seen ${MORNING}`],
    }],
    ['an urgent fallback does not wait for quiet hours', {
      event: { priority: 'urgent' },
      users: [sleeper('u1')],
      rules: [withFallback('f', { channel: 'email', afterSeconds: 300, unless: 'seen' })],
      deliveries: ['inapp u1 now', 'email u1@acme.example fallback seen 2026-06-10T23:05:00.000Z'],
    }],
    ['the oldest rule’s fallback to a channel wins', {
      users: [user('u1')],
      rules: [withFallback('older', { channel: 'email', afterSeconds: 60, unless: 'read' }), withFallback('newer', { channel: 'email', afterSeconds: 5, unless: 'seen' })],
      deliveries: ['inapp u1 now', 'email u1@acme.example fallback read 2026-06-10T23:01:00.000Z'],
    }],

    // digest
    ['a digest rule’s email, push and personal chat join its windows; in-app does not', {
      users: [user('u1', { hasPushSubscription: true, teamsWebhookUrl: TEAMS, preferences: { 'finding_created.teams': true } })],
      rules: [withDigest('d', ['inapp', 'email', 'push', 'teams'], { windowSeconds: 600, maxItems: 100 })],
      deliveries: ['inapp u1 now', "email u1@acme.example digest d 600s max 100 key ''", "push u1 digest d 600s max 100 key ''", "teams user:u1 digest d 600s max 100 key ''"],
    }],
    ['a digest key splits windows by the value in the event’s data', {
      event: { data: { order: { id: 42 } } },
      users: [user('u1')],
      rules: [withDigest('d', ['email'], { windowSeconds: 60, maxItems: 5, key: 'order.id' })],
      deliveries: ['inapp u1 now', "email u1@acme.example digest d 60s max 5 key '42'"],
    }],
    ['a digest’s window, not quiet hours, times its members at routing', {
      users: [sleeper('u1')],
      rules: [withDigest('d', ['email'], { windowSeconds: 60, maxItems: 5 })],
      deliveries: ['inapp u1 now', "email u1@acme.example digest d 60s max 5 key ''"],
    }],
    ['a delivery another rule produces without a digest is digested when any producing rule digests', {
      users: [user('u1')],
      rules: [emailRule(), withDigest('d', ['email'], { windowSeconds: 60, maxItems: 5 })],
      deliveries: ['inapp u1 now', "email u1@acme.example digest d 60s max 5 key ''"],
    }],
    ['team chat is never digested', {
      event: { assigneeTeamIds: ['t1'] },
      users: [user('u1')],
      teams: [team('t1')],
      rules: [withDigest('d', ['email'], { windowSeconds: 60, maxItems: 5 })],
      deliveries: ['inapp u1 now', "email u1@acme.example digest d 60s max 5 key ''", 'slack team:t1 now'],
    }],
  ];

  it.each(rows)('%s', (_name, row) => {
    const plan = planDeliveries({ event: event(row.event), users: row.users, teams: row.teams ?? [], rules: row.rules ?? [], now: NOW });
    expect(plan.deliveries.map(describeTiming).sort()).toEqual([...row.deliveries].sort());
  });
});
