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
  ...over,
});

const team = (id: string, over: Partial<DirectoryTeam> = {}): DirectoryTeam => ({
  id,
  tenantId: 'acme',
  slackWebhookUrl: 'https://hooks.slack.com/services/T/B/x',
  teamsWebhookUrl: null,
  ...over,
});

const rule = (id: string, over: Partial<RoutingRule> = {}): RoutingRule => ({
  id,
  tenantId: 'acme',
  eventType: 'finding_created',
  channel: 'email',
  severityFilter: '',
  enabled: true,
  emailRecipients: [],
  webhookUrl: null,
  ...over,
});

const emailRule = (over: Partial<RoutingRule> = {}) => rule('r_email', over);
const webhookRule = (over: Partial<RoutingRule> = {}) => rule('r_hook', { channel: 'webhook', webhookUrl: 'https://hooks.example/in', ...over });

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
    { rules: [webhookRule(), rule('r_hook2', { channel: 'webhook', severityFilter: 'medium', webhookUrl: 'https://other.example/in' })], deliveries: ['inapp u1', 'webhook rule:r_hook', 'webhook rule:r_hook2'] },
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

describe('planDeliveries (SPEC §3)', () => {
  it.each(rows)('%s', (_name, row) => {
    const plan = planDeliveries({ event: event(row.event), users: row.users ?? directory, teams: row.teams ?? [], rules: row.rules ?? [] });
    expect(plan.deliveries.map((d) => `${d.channel} ${d.destination}`).sort()).toEqual([...row.deliveries].sort());
    expect(plan.skipped.map((s) => `${s.userId}: ${s.reason}`)).toEqual(row.skipped ?? []);
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
        { channel: 'inapp', destination: 'u1', userId: 'u1' },
        { channel: 'push', destination: 'u1', userId: 'u1' },
        // A recipient's own address keeps the person, so templates can greet them; the first matching rule claims it.
        { channel: 'email', destination: 'u1@acme.example', userId: 'u1', ruleId: 'r_first' },
        { channel: 'email', destination: 'ops@acme.example', ruleId: 'r_first' },
        { channel: 'webhook', destination: 'rule:r_hook', ruleId: 'r_hook' },
        { channel: 'slack', destination: 'team:t1', teamId: 't1' },
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
