/**
 * Fault scenario (issue #9): a tenant-isolation sweep over every route. A user or key of tenant
 * B must get 401/403/404 for everything of tenant A, no answer may carry A's data, no write may
 * change it, and B's live streams must never carry A's frames.
 *
 * The routes come from the app itself, so a new route is swept automatically — and one under
 * /api/v1 without an entry in ROUTE_TABLE fails the scenario until someone says how to aim it
 * at tenant A's objects.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateVapidKeys } from '../../src/push/vapidKeys.ts';
import { startWebhook } from '../../workers/roles/webhook.ts';
import { startScriptedReceiver, type ScriptedReceiver } from '../channels/receivers.ts';
import { apiClient, eventually, type ApiClient, type ApiResponse } from '../helpers/api.ts';
import { openStream, type ReceivedFrame } from '../helpers/sse.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { concretePath, registeredRoutes } from '../helpers/routes.ts';
import { createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';
import { report } from './harness/scenario.ts';

const A = 'alpha-corp';
const B = 'beta-corp';
const A_KEY = 'fault-isolation-key-alpha-only-0001';
const B_KEY = 'fault-isolation-key-beta-only-00001';
const HOOK_PATH = '/alpha-secret-hook-path-5d1e';
/** A's personal Slack URLs: the path is a credential. */
const ALPHA_SLACK = 'https://hooks.slack.com/services/TALPHA/BALPHA/alphasecretslack';

/** Tenant A's objects, filled in by the seeding: what B must never see or change. */
type World = {
  users: { id: string; email: string; name: string }[];
  notificationIds: string[];
  eventIds: string[];
  ruleId: string;
  ruleSecret: string;
  teamId: string;
  templateId: string;
  deliveryIds: string[];
  pushEndpoint: string;
};

/** How a probe's answer is judged. */
type Expectation =
  /** Aimed at A's data: only 401, 403 or 404. */
  | 'refused'
  /** The caller's own data or a public route: anything under 500, as long as none of A's data is in it. */
  | 'no-leak'
  /** The batch answers 200 with a result per event: every one must be rejected. */
  | 'batch-rejected';

type Probe = { path: string; body?: unknown; expect: Expectation };

/**
 * Every /api/v1 route × method, aimed at tenant A's real objects. `stream` is the live stream,
 * swept by the SSE part below. A route missing here fails the sweep.
 */
const ROUTE_TABLE: Record<string, ((w: World) => Probe[]) | 'stream'> = {
  'POST /api/v1/events': () => [{ path: '/api/v1/events', body: event('evt-beta-intruder-1', ['anna-alpha']), expect: 'refused' }],
  'POST /api/v1/events/batch': () => [{ path: '/api/v1/events/batch', body: { events: [event('evt-beta-intruder-2', ['anna-alpha'])] }, expect: 'batch-rejected' }],
  'GET /api/v1/events': 'stream',

  'GET /api/v1/notifications': () => [
    { path: '/api/v1/notifications?limit=100', expect: 'no-leak' },
    { path: '/api/v1/notifications?limit=100&type=alpha_secret_type', expect: 'no-leak' },
  ],
  'GET /api/v1/notifications/summary': () => [{ path: '/api/v1/notifications/summary', expect: 'no-leak' }],
  'POST /api/v1/notifications/read-all': () => [{ path: '/api/v1/notifications/read-all', expect: 'no-leak' }],
  'POST /api/v1/notifications/:id/read': (w) => w.notificationIds.map((id) => ({ path: `/api/v1/notifications/${id}/read`, expect: 'refused' as const })),
  'POST /api/v1/notifications/:id/archive': (w) => w.notificationIds.map((id) => ({ path: `/api/v1/notifications/${id}/archive`, expect: 'refused' as const })),
  // A's ids are ignored (and the snapshot shows A's rows unchanged): answered, counting none.
  'POST /api/v1/notifications/seen': (w) => [{ path: '/api/v1/notifications/seen', body: { ids: w.notificationIds }, expect: 'no-leak' }],
  'POST /api/v1/notifications/archive': (w) => [{ path: '/api/v1/notifications/archive', body: { ids: w.notificationIds }, expect: 'no-leak' }],

  'GET /api/v1/me/preferences': () => [{ path: '/api/v1/me/preferences', expect: 'no-leak' }],
  'PUT /api/v1/me/preferences': () => [{ path: '/api/v1/me/preferences', body: { 'finding_created.email': false }, expect: 'no-leak' }],
  'PATCH /api/v1/me/preferences': () => [{ path: '/api/v1/me/preferences', body: { 'finding_created.inapp': true }, expect: 'no-leak' }],
  // Subscribing takes an endpoint over from whoever held it (a browser belongs to its last user):
  // B subscribes its own device here; A's endpoint is only tried for removal.
  'POST /api/v1/me/push-subscriptions': () => [{ path: '/api/v1/me/push-subscriptions', body: pushSubscription(`https://fcm.googleapis.com/fcm/send/beta-device-${randomBytes(4).toString('hex')}`), expect: 'no-leak' }],
  'DELETE /api/v1/me/push-subscriptions': (w) => [{ path: '/api/v1/me/push-subscriptions', body: { endpoint: w.pushEndpoint }, expect: 'refused' }],
  'GET /api/v1/push/vapid-public-key': () => [{ path: '/api/v1/push/vapid-public-key', expect: 'no-leak' }],
  'GET /api/v1/me/chat': () => [{ path: '/api/v1/me/chat', expect: 'no-leak' }],
  'PUT /api/v1/me/chat': () => [{ path: '/api/v1/me/chat', body: { slackWebhookUrl: 'https://hooks.slack.com/services/TBETA/BBETA/betaown' }, expect: 'no-leak' }],
  'GET /api/v1/openapi.json': () => [{ path: '/api/v1/openapi.json', expect: 'no-leak' }],

  'PUT /api/v1/tenants/:id': () => [{ path: `/api/v1/tenants/${A}`, body: { name: 'Renamed by beta' }, expect: 'refused' }],
  'GET /api/v1/tenants/:id': () => [{ path: `/api/v1/tenants/${A}`, expect: 'refused' }],
  'DELETE /api/v1/tenants/:id': () => [{ path: `/api/v1/tenants/${A}`, expect: 'refused' }],
  // The pack catalog is the same for everyone; installing one into A would plant rules in A.
  'GET /api/v1/rule-packs': () => [{ path: '/api/v1/rule-packs', expect: 'no-leak' }],
  'POST /api/v1/tenants/:id/rule-packs/:packId': () => [
    { path: `/api/v1/tenants/${A}/rule-packs/platform`, expect: 'refused' },
    { path: `/api/v1/tenants/${A}/rule-packs/conversations`, expect: 'refused' },
  ],
  'GET /api/v1/tenants/:id/branding': () => [{ path: `/api/v1/tenants/${A}/branding`, expect: 'refused' }],
  'PUT /api/v1/tenants/:id/branding': () => [{ path: `/api/v1/tenants/${A}/branding`, body: { companyName: 'Beta took over' }, expect: 'refused' }],

  'GET /api/v1/users': () => lists('/api/v1/users'),
  'PUT /api/v1/users/:id': (w) => [
    // Moving A's user into B, rewriting it in place, and creating a new user inside A.
    ...w.users.map((u) => ({ path: `/api/v1/users/${u.id}`, body: { email: 'moved@beta.example', name: 'Moved', tenantIds: [B] }, expect: 'refused' as const })),
    ...w.users.map((u) => ({ path: `/api/v1/users/${u.id}`, body: { email: u.email, name: 'Rewritten', tenantIds: [A] }, expect: 'refused' as const })),
    { path: '/api/v1/users/planted-in-alpha', body: { email: 'planted@beta.example', name: 'Planted', tenantIds: [A] }, expect: 'refused' },
    { path: '/api/v1/users/planted-in-both', body: { email: 'planted@beta.example', name: 'Planted', tenantIds: [A, B] }, expect: 'refused' },
  ],
  'GET /api/v1/users/:id': (w) => w.users.map((u) => ({ path: `/api/v1/users/${u.id}`, expect: 'refused' as const })),
  'DELETE /api/v1/users/:id': (w) => w.users.map((u) => ({ path: `/api/v1/users/${u.id}`, expect: 'refused' as const })),

  'GET /api/v1/teams': () => lists('/api/v1/teams'),
  'PUT /api/v1/teams/:id': (w) => [
    { path: `/api/v1/teams/${w.teamId}`, body: { tenantId: B, name: 'Moved to beta' }, expect: 'refused' },
    { path: `/api/v1/teams/${w.teamId}`, body: { tenantId: A, name: 'Rewritten' }, expect: 'refused' },
    { path: '/api/v1/teams/planted-team', body: { tenantId: A, name: 'Planted' }, expect: 'refused' },
  ],
  'GET /api/v1/teams/:id': (w) => [{ path: `/api/v1/teams/${w.teamId}`, expect: 'refused' }],
  'DELETE /api/v1/teams/:id': (w) => [{ path: `/api/v1/teams/${w.teamId}`, expect: 'refused' }],

  'GET /api/v1/rules': () => [...lists('/api/v1/rules'), { path: '/api/v1/rules?eventType=alpha_secret_type', expect: 'no-leak' }],
  'POST /api/v1/rules': () => [{ path: '/api/v1/rules', body: { tenantId: A, eventType: 'planted_rule', channel: 'email', emailRecipients: ['spy@beta.example'] }, expect: 'refused' }],
  'GET /api/v1/rules/:id': (w) => [{ path: `/api/v1/rules/${w.ruleId}`, expect: 'refused' }],
  'PATCH /api/v1/rules/:id': (w) => [
    { path: `/api/v1/rules/${w.ruleId}`, body: { enabled: false }, expect: 'refused' },
    { path: `/api/v1/rules/${w.ruleId}`, body: { tenantId: B }, expect: 'refused' },
  ],
  'DELETE /api/v1/rules/:id': (w) => [{ path: `/api/v1/rules/${w.ruleId}`, expect: 'refused' }],

  'GET /api/v1/templates': () => lists('/api/v1/templates'),
  'POST /api/v1/templates': () => [{ path: '/api/v1/templates', body: { tenantId: A, eventType: 'planted_template', channel: 'inapp', title: 'planted' }, expect: 'refused' }],
  'GET /api/v1/templates/:id': (w) => [{ path: `/api/v1/templates/${w.templateId}`, expect: 'refused' }],
  'GET /api/v1/templates/:id/versions': (w) => [{ path: `/api/v1/templates/${w.templateId}/versions`, expect: 'refused' }],
  'POST /api/v1/templates/:id/versions': (w) => [{ path: `/api/v1/templates/${w.templateId}/versions`, body: { subject: 'beta was here', html: '<p>beta</p>' }, expect: 'refused' }],
  'POST /api/v1/templates/preview': () => [
    // Rendering with A's stored template and A's branding would show both.
    { path: '/api/v1/templates/preview', body: { tenantId: A, eventType: 'alpha_secret_type', channel: 'email' }, expect: 'refused' },
    { path: '/api/v1/templates/preview', body: { tenantId: A, eventType: 'alpha_secret_type', channel: 'inapp', template: { title: '{{brand.companyName}}' } }, expect: 'refused' },
  ],
  'POST /api/v1/templates/:id/test-send': (w) => [
    { path: `/api/v1/templates/${w.templateId}/test-send`, body: { to: 'spy@beta.example' }, expect: 'refused' },
    { path: `/api/v1/templates/${w.templateId}/test-send`, body: { to: 'spy@beta.example', tenantId: B }, expect: 'refused' },
  ],

  'GET /api/v1/events/:id/deliveries': (w) =>
    w.eventIds.flatMap((id) => [
      { path: `/api/v1/events/${id}/deliveries`, expect: 'refused' as const },
      { path: `/api/v1/events/${id}/deliveries?tenantId=${A}`, expect: 'refused' as const },
    ]),
  'POST /api/v1/deliveries/:id/retry': (w) => w.deliveryIds.map((id) => ({ path: `/api/v1/deliveries/${id}/retry`, expect: 'refused' as const })),
};

/** A list asked for A's tenant is refused; asked for nothing (or B) it must hold none of A's rows. */
function lists(path: string): Probe[] {
  return [
    { path: `${path}?tenantId=${A}`, expect: 'refused' },
    { path: `${path}?tenantId=${A}&limit=1000`, expect: 'refused' },
    { path, expect: 'no-leak' },
    { path: `${path}?limit=1000`, expect: 'no-leak' },
    { path: `${path}?tenantId=${B}`, expect: 'no-leak' },
  ];
}

function event(id: string, assigneeUserIds: string[], extra: Record<string, unknown> = {}) {
  return { id, tenantId: A, type: 'alpha_secret_type', severity: 'high', assigneeUserIds, data: { title: 'planted by beta' }, ...extra };
}

function pushSubscription(endpoint: string) {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') } };
}

let env: TestEnv;
let receiver: ScriptedReceiver;
let smtp: SmtpReceiver;
let url: string;
let app: Express;
let root: ApiClient;
let alpha: ApiClient;
let world: World;
const tokens: Record<string, string> = {};
const streams: { close(): void }[] = [];

/** Every string of A's that B never sends: any of them in an answer to B is a leak. */
let secrets: string[] = [];

beforeAll(async () => {
  receiver = await startScriptedReceiver();
  receiver.script(HOOK_PATH, { status: 410 });
  smtp = await startSmtpReceiver();
  const vapid = generateVapidKeys();
  env = await createTestEnv({
    SMTP_URL: smtp.url,
    SERVICE_KEYS: JSON.stringify({ [SERVICE_KEY]: ['*'], [A_KEY]: [A], [B_KEY]: [B] }),
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: 'mailto:ops@herald.test',
  });
  const web = await env.startWeb();
  url = web.url;
  app = web.server.listeners('request')[0] as Express;
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startWebhook);
  root = apiClient(url, SERVICE_KEY);
  alpha = apiClient(url, A_KEY);

  const ok = (res: ApiResponse, what: string) => {
    if (res.status >= 300) throw new Error(`seed ${what}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  ok(await alpha.put(`/api/v1/tenants/${A}`, { name: 'Alpha Secret Tenant Name' }), 'tenant A');
  ok(await root.put(`/api/v1/tenants/${B}`, { name: 'Beta Tenant' }), 'tenant B');
  const aUsers = [
    { id: 'anna-alpha', email: 'anna.secret@alpha.example', name: 'Anna Alpha-Secret' },
    { id: 'alma-alpha-admin', email: 'alma.secret@alpha.example', name: 'Alma Alpha-Secret' },
  ];
  for (const u of aUsers) {
    const user = { email: u.email, name: u.name, tenantIds: [A], slackWebhookUrl: `${ALPHA_SLACK}/${u.id}`, preferences: { 'alpha_secret_type.email': true } };
    ok(await alpha.put(`/api/v1/users/${u.id}`, user), u.id);
  }
  for (const id of ['bea-beta', 'bert-beta-admin']) ok(await root.put(`/api/v1/users/${id}`, { email: `${id}@beta.example`, name: id, tenantIds: [B] }), id);

  ok(await alpha.put('/api/v1/teams/alpha-secret-team', { tenantId: A, name: 'Alpha Secret Team' }), 'team');
  const rule = ok(
    await alpha.post('/api/v1/rules', { tenantId: A, eventType: 'alpha_secret_type', channel: 'webhook', webhookUrl: receiver.origin + HOOK_PATH }),
    'rule',
  );
  ok(await alpha.post('/api/v1/rules', { tenantId: A, eventType: 'alpha_other_type', channel: 'email', emailRecipients: ['alpha-ops-secret@alpha.example'] }), 'email rule');
  const template = ok(
    await alpha.post('/api/v1/templates', { tenantId: A, eventType: 'alpha_secret_type', channel: 'email', subject: 'Alpha secret subject {{data.title}}', html: '<p>Alpha secret html</p>' }),
    'template',
  );
  ok(await alpha.put(`/api/v1/tenants/${A}/branding`, { companyName: 'Alpha Brand Secret', footerText: 'Alpha secret footer', replyTo: 'reply.secret@alpha.example' }), 'branding');

  const eventIds = ['evt-alpha-secret-1', 'evt-alpha-secret-2'];
  for (const id of eventIds) {
    ok(await alpha.post('/api/v1/events', { id, tenantId: A, type: 'alpha_secret_type', severity: 'high', assigneeUserIds: ['anna-alpha', 'alma-alpha-admin'], data: { title: `alpha-secret-title-${id}` } }), id);
  }

  for (const u of aUsers) tokens[u.id] = await env.userToken(u.id, [A], u.id.includes('admin') ? 'admin' : 'user');
  tokens.bUser = await env.userToken('bea-beta', [B]);
  tokens.bAdmin = await env.userToken('bert-beta-admin', [B], 'admin');

  // Settled: every delivery out of pending (the webhook's 410 fails it for good), every inbox row written.
  const deliveryIds = await eventually(async () => {
    const ids: string[] = [];
    for (const id of eventIds) {
      const items = (await alpha.get(`/api/v1/events/${id}/deliveries`)).body.items as { id: string; state: string; channel: string }[] | undefined;
      if (!items || items.length !== 3 || items.some((i) => i.state === 'pending')) return null;
      ids.push(...items.map((i) => i.id));
    }
    return ids;
  }, 20_000);
  const notificationIds: string[] = [];
  for (const u of aUsers) {
    const items = (await alpha.get('/api/v1/notifications', tokens[u.id])).body.items as { id: string }[];
    notificationIds.push(...items.map((n) => n.id));
  }
  expect(notificationIds).toHaveLength(4);

  const pushEndpoint = 'https://fcm.googleapis.com/fcm/send/alpha-secret-device-77e1';
  ok(await alpha.post('/api/v1/me/push-subscriptions', pushSubscription(pushEndpoint), tokens['anna-alpha']), 'push subscription');

  world = { users: aUsers, notificationIds, eventIds, ruleId: rule.id, ruleSecret: rule.secret, teamId: 'alpha-secret-team', templateId: template.id, deliveryIds, pushEndpoint };
  secrets = [
    A,
    'Alpha Secret Tenant Name',
    ...aUsers.flatMap((u) => [u.id, u.email, u.name]),
    ALPHA_SLACK,
    ...eventIds,
    ...eventIds.map((id) => `alpha-secret-title-${id}`),
    rule.id,
    rule.secret,
    HOOK_PATH,
    'alpha-ops-secret@alpha.example',
    'alpha-secret-team',
    'Alpha Secret Team',
    template.id,
    'Alpha secret subject',
    'Alpha Brand Secret',
    'Alpha secret footer',
    'reply.secret@alpha.example',
    ...deliveryIds,
    pushEndpoint,
    'alpha_secret_type',
  ];
}, 90_000);

afterAll(async () => {
  for (const s of streams) s.close();
  await env?.cleanup();
  await receiver?.close();
  await smtp?.close();
});

/** Everything of A's, read as A: compared before and after the sweep, it must not have moved. */
async function snapshotOfA(): Promise<Record<string, unknown>> {
  const get = async (path: string, token?: string) => {
    const res = await alpha.get(path, token);
    return { status: res.status, body: res.body };
  };
  const snapshot: Record<string, unknown> = {
    tenant: await get(`/api/v1/tenants/${A}`),
    branding: await get(`/api/v1/tenants/${A}/branding`),
    users: await get(`/api/v1/users?tenantId=${A}&limit=1000`),
    teams: await get(`/api/v1/teams?tenantId=${A}&limit=1000`),
    rules: await get(`/api/v1/rules?tenantId=${A}&limit=1000`),
    templates: await get(`/api/v1/templates?tenantId=${A}&limit=1000`),
    templateVersions: await get(`/api/v1/templates/${world.templateId}/versions`),
    events: await env.db.$client`select id, type, envelope from events where tenant_id = ${A} order by id`,
    pushSubscriptions: await env.db.$client`select s.user_id, s.endpoint, s.p256dh, s.auth from push_subscriptions s join users u on u.id = s.user_id where ${A} = any(u.tenant_ids) order by endpoint`,
  };
  for (const id of world.eventIds) snapshot[`deliveries ${id}`] = await get(`/api/v1/events/${id}/deliveries`);
  for (const user of world.users) {
    snapshot[`inbox ${user.id}`] = await get('/api/v1/notifications?limit=100', tokens[user.id]);
    snapshot[`preferences ${user.id}`] = await get('/api/v1/me/preferences', tokens[user.id]);
    snapshot[`chat ${user.id}`] = await get('/api/v1/me/chat', tokens[user.id]);
  }
  return snapshot;
}

/** The principals of tenant B: an admin user, an ordinary user, and a service key scoped to B only. */
const principals = () => [
  { name: 'B admin JWT', token: tokens.bAdmin! },
  { name: 'B user JWT', token: tokens.bUser! },
  { name: 'B service key', token: B_KEY },
];

type Leak = { principal: string; route: string; probe: string; why: string };

/** What is wrong with one answer to B, if anything. */
function judge(probe: Probe, res: ApiResponse, text: string): string | null {
  if (res.status >= 500) return `status ${res.status}`;
  const sent = probe.path + (probe.body === undefined ? '' : JSON.stringify(probe.body));
  const found = secrets.filter((s) => !sent.includes(s) && text.includes(s));
  if (found.length > 0) return `answer (${res.status}) carries A's ${found.map((s) => JSON.stringify(s)).join(', ')}`;
  if (probe.expect === 'refused' && ![401, 403, 404].includes(res.status)) return `status ${res.status}, wanted 401/403/404`;
  if (probe.expect === 'batch-rejected') {
    if ([401, 403].includes(res.status)) return null;
    const results = (res.body as { results?: { status: string }[] })?.results;
    if (res.status !== 200 || !results || results.some((r) => r.status !== 'rejected')) return `batch answered ${res.status} ${text.slice(0, 200)}`;
  }
  return null;
}

async function send(method: string, probe: Probe, token: string): Promise<{ res: ApiResponse; text: string }> {
  const res = await apiClient(url).call(method, probe.path, probe.body, token);
  return { res, text: typeof res.body === 'string' ? res.body : JSON.stringify(res.body) };
}

describe('fault: tenant isolation', () => {
  let routesSwept = 0;
  let requests = 0;
  const leaks: Leak[] = [];


  afterAll(() => {
    for (const leak of leaks.slice(0, 40)) console.log(`  LEAK ${leak.principal} ${leak.route} ${leak.probe}: ${leak.why}`);
    report('isolation', { 'routes swept': routesSwept, requests, leaked: leaks.length });
  });

  it('has an isolation entry for every /api/v1 route the app registers', () => {
    const registered = registeredRoutes(app).filter((r) => r.path.startsWith('/api/v1/'));
    const keys = new Set(registered.map((r) => `${r.method} ${r.path}`));
    const uncovered = [...keys].filter((k) => !(k in ROUTE_TABLE));
    const stale = Object.keys(ROUTE_TABLE).filter((k) => !keys.has(k));
    expect(uncovered, 'routes without an isolation entry in ROUTE_TABLE').toEqual([]);
    expect(stale, 'ROUTE_TABLE entries for routes the app no longer has').toEqual([]);
  });

  it('aims every probe at objects that exist: A itself can read them', async () => {
    for (const [key, entry] of Object.entries(ROUTE_TABLE)) {
      if (entry === 'stream' || !key.startsWith('GET ')) continue;
      for (const probe of entry(world).filter((p) => p.expect === 'refused')) {
        const res = await alpha.get(probe.path);
        expect(res.status, `${key} ${probe.path} as A`).toBe(200);
        expect(JSON.stringify(res.body).length, `${key} ${probe.path} as A`).toBeGreaterThan(20);
      }
    }
  });

  it('refuses B everything of A on every route, leaks nothing, and changes nothing', async () => {
    const before = await snapshotOfA();
    const all = registeredRoutes(app);
    const swept = new Set<string>();
    for (const route of all) {
      const key = `${route.method} ${route.path}`;
      const entry = ROUTE_TABLE[key];
      let probes: Probe[];
      if (entry === 'stream') {
        swept.add(key); // the live stream: the SSE test below
        continue;
      } else if (entry) {
        probes = entry(world);
      } else if (route.path.startsWith('/admin/')) {
        // The operator surface (Bull Board) spans every tenant: SPEC §7.1 opens it to operators
        // only, so B's admin token, B's user and B's scoped key are all refused.
        probes = [{ path: concretePath(route.path), body: route.method === 'GET' ? undefined : {}, expect: 'refused' }];
      } else if (!route.path.startsWith('/api/v1/') && !route.path.includes(':') && route.method === 'GET') {
        // Outside the API (page, health, metrics): no tenant in the path, so nothing of A's may show.
        probes = [{ path: route.path, expect: 'no-leak' }];
      } else {
        continue;
      }
      swept.add(key);
      for (const principal of principals()) {
        for (const probe of probes) {
          const { res, text } = await send(route.method, probe, principal.token);
          requests++;
          const why = judge(probe, res, text);
          if (why) leaks.push({ principal: principal.name, route: key, probe: `${probe.path}${probe.body ? ` ${JSON.stringify(probe.body).slice(0, 120)}` : ''}`, why });
        }
      }
    }
    routesSwept = swept.size;

    const after = await snapshotOfA();
    for (const part of Object.keys(before)) {
      if (JSON.stringify(before[part]) !== JSON.stringify(after[part])) {
        leaks.push({ principal: 'B (any)', route: 'writes', probe: part, why: `A's ${part} changed: ${JSON.stringify(before[part]).slice(0, 300)} → ${JSON.stringify(after[part]).slice(0, 300)}` });
      }
    }
    expect(routesSwept).toBeGreaterThanOrEqual(Object.keys(ROUTE_TABLE).length);
    expect(leaks, 'leaks (printed above the summary)').toEqual([]);
  }, 120_000);

  it('never carries A’s frames on B’s streams, for ordinary users, admins, and a person in both tenants', async () => {
    // Sam belongs to both tenants but holds a token for B only: that stream is B's.
    const ok = (res: ApiResponse) => expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
    ok(await root.put('/api/v1/users/sam-both', { email: 'sam@both.example', name: 'Sam Both', tenantIds: [A, B] }));
    const samB = await env.userToken('sam-both', [B]);
    const open = (token: string, options?: { lastEventId?: string }) => {
      const s = openStream(url, token, options);
      streams.push(s);
      return s;
    };

    // A control stream on A's side proves A's frames were really sent.
    const control = open(tokens['anna-alpha']!);
    const bStreams = { 'B user': open(tokens.bUser!), 'B admin': open(tokens.bAdmin!), 'Sam (B token)': open(samB) };
    await Promise.all([control.opened, ...Object.values(bStreams).map((s) => s.opened)]);
    for (const s of [control, ...Object.values(bStreams)]) await s.waitFor((f) => f.type === 'unread_count');

    const publishA = async (id: string, assigneeUserIds: string[]) =>
      ok(await alpha.post('/api/v1/events', { id, tenantId: A, type: 'alpha_secret_type', severity: 'low', assigneeUserIds, data: { title: `alpha-secret-title-${id}` } }));
    await publishA('evt-alpha-live-1', ['anna-alpha', 'sam-both']);
    await publishA('evt-alpha-live-2', []); // tenant-wide only: an `event` frame, no recipients
    await publishA('evt-alpha-live-3', ['sam-both', 'alma-alpha-admin']);
    await control.waitFor((f) => f.type === 'notification' && f.data.eventId === 'evt-alpha-live-1');
    await control.waitFor((f) => f.type === 'event' && f.data.tenantId === A, 3);

    // Sam reads A's notification on an A-scoped tab: that is A's inbox changing.
    const samA = await env.userToken('sam-both', [A]);
    const samInbox = await eventually(async () => {
      const items = (await root.get('/api/v1/notifications', samA)).body.items as { id: string }[];
      return items.length === 2 ? items : null;
    });
    ok(await root.post(`/api/v1/notifications/${samInbox[0]!.id}/read`, undefined, samA));

    ok(await root.post('/api/v1/events', { id: 'evt-beta-live-1', tenantId: B, type: 'beta_type', assigneeUserIds: ['bea-beta', 'bert-beta-admin', 'sam-both'], data: { title: 'beta title' } }));
    for (const s of Object.values(bStreams)) {
      await s.waitFor((f) => f.type === 'notification' && f.data.eventId === 'evt-beta-live-1');
      await s.waitFor((f) => f.type === 'event' && f.data.id === 'evt-beta-live-1');
    }
    // A resumed B stream replays from the inbox: that must be scoped too.
    const resumed = open(samB, { lastEventId: '0' });
    await resumed.opened;
    await resumed.waitFor((f) => f.type === 'notification' && f.data.eventId === 'evt-beta-live-1');
    // Its unread count comes after the replay, and every live frame checked below was published
    // before evt-beta-live-1, which each B stream has received: all there is to check has arrived.
    await resumed.waitFor((f) => f.type === 'unread_count');

    const samBUnread = ((await root.get('/api/v1/notifications/summary', samB)).body as { unread: number }).unread;
    const aNotificationIds = new Set((await env.db.$client`select id::text from notifications where tenant_id = ${A}`).map((r) => r.id as string));
    const frameLeaks: string[] = [];
    for (const [name, s] of Object.entries({ ...bStreams, 'Sam (B token, resumed)': resumed })) {
      for (const frame of s.frames) {
        const why = frameLeak(frame, aNotificationIds);
        if (why) frameLeaks.push(`${name}: ${frame.type} ${why}`);
        // Sam's inbox bookkeeping (counts, read marks) must be scoped to the token's tenants too.
        const slip = name.startsWith('Sam') ? scopeSlip(frame, aNotificationIds, samBUnread) : null;
        if (slip) frameLeaks.push(`${name}: ${frame.type} ${slip}`);
      }
    }
    requests += 4; // B's four streams
    for (const leak of frameLeaks) leaks.push({ principal: 'stream', route: 'GET /api/v1/events', probe: '', why: leak });
    expect(frameLeaks).toEqual([]);
  }, 60_000);
});

/** Why a frame on a B-scoped stream is A's, if it is: A's rows, A's events, anything naming them. */
function frameLeak(frame: ReceivedFrame, aNotificationIds: Set<string>): string | null {
  const text = JSON.stringify(frame.data);
  if (frame.data?.tenantId === A) return `of tenant ${A}: ${text.slice(0, 200)}`;
  if (frame.type === 'notification' && aNotificationIds.has(String(frame.data.id))) return `is A's notification ${frame.data.id}`;
  const found = [...secrets, 'evt-alpha-live'].filter((s) => text.includes(s));
  return found.length > 0 ? `carries ${found.join(', ')}` : null;
}

/** A frame about the person's A-side inbox on their B-scoped stream: a read mark of A's row, or a count that includes A's. */
function scopeSlip(frame: ReceivedFrame, aNotificationIds: Set<string>, scopedUnread: number): string | null {
  if (frame.type === 'notification.read' && aNotificationIds.has(String(frame.data.id))) return `marks A's notification ${frame.data.id} read`;
  if (frame.type === 'unread_count' && frame.data.unread > scopedUnread) return `says unread ${frame.data.unread}; the B-scoped inbox has ${scopedUnread}`;
  return null;
}

/**
 * Issue #14: what a hostile tenant could do without touching the other's data — read credentials
 * inside its own tenant, ride a signed-in browser, stall the shared processes, exhaust shared
 * limits, trip a breaker shared by a host. Each probe is the attack; A must not notice it.
 */
describe('fault: a hostile tenant', () => {
  it('shows no tenant-scoped caller a person’s chat URL, in its own tenant either; a * key sees it', async () => {
    const scoped = [
      { name: 'A service key', token: A_KEY },
      { name: 'A admin JWT', token: tokens['alma-alpha-admin']! },
    ];
    for (const { name, token } of scoped) {
      for (const path of [`/api/v1/users?tenantId=${A}&limit=1000`, '/api/v1/users', ...world.users.map((u) => `/api/v1/users/${u.id}`)]) {
        const res = await alpha.get(path, token);
        expect(res.status, `${name} ${path}`).toBe(200);
        expect(JSON.stringify(res.body), `${name} ${path}`).not.toContain(ALPHA_SLACK);
      }
    }
    expect(JSON.stringify((await root.get(`/api/v1/users/${world.users[0]!.id}`)).body)).toContain(ALPHA_SLACK);
  });

  it('refuses every state-changing route a cross-site request carrying a session cookie, and nothing of A changes', async () => {
    const before = await snapshotOfA();
    const cookies = { 'A admin': tokens['alma-alpha-admin']!, 'A user': tokens['anna-alpha']!, '* key': SERVICE_KEY };
    const wrong: string[] = [];
    let routes = 0;
    for (const route of registeredRoutes(app)) {
      if (['GET', 'HEAD', 'OPTIONS'].includes(route.method)) continue;
      const entry = ROUTE_TABLE[`${route.method} ${route.path}`];
      const probes = typeof entry === 'function' ? entry(world) : [{ path: concretePath(route.path), body: {} }];
      routes++;
      for (const [who, cookie] of Object.entries(cookies)) {
        for (const probe of probes) {
          const res = await fetch(url + probe.path, {
            method: route.method,
            headers: { cookie: `herald_token=${cookie}`, origin: 'https://evil.example', 'content-type': 'application/json' },
            body: JSON.stringify(probe.body ?? {}),
          });
          if (res.status !== 403) wrong.push(`${who} ${route.method} ${probe.path}: ${res.status}`);
          await res.body?.cancel();
        }
      }
    }
    expect(routes).toBeGreaterThan(20);
    expect(wrong).toEqual([]);
    const after = await snapshotOfA();
    for (const part of Object.keys(before)) expect(JSON.stringify(after[part]), part).toBe(JSON.stringify(before[part]));
  }, 120_000);

  it('does not hold back A while B detonates a template bomb and trips a breaker on a host they share', async () => {
    const b = apiClient(url, B_KEY);
    const zeros = Array.from({ length: 80_000 }, () => 0);
    const bomb = '{{#each data.a}}{{#each @root.data.a}}{{#each @root.data.a}}{{/each}}{{/each}}{{/each}}';
    expect((await b.post('/api/v1/templates', { tenantId: B, eventType: 'beta_bomb', channel: 'inapp', title: bomb })).status).toBe(201);
    // B's endpoint on the same host as A's fails until its breaker opens.
    receiver.script('/beta-failing-hook', ...Array.from({ length: 50 }, () => ({ status: 500 })));
    expect((await b.post('/api/v1/rules', { tenantId: B, eventType: 'beta_bomb', channel: 'webhook', webhookUrl: `${receiver.origin}/beta-failing-hook` })).status).toBe(201);
    for (let i = 0; i < 6; i++) {
      expect((await b.post('/api/v1/events', { tenantId: B, type: 'beta_bomb', assigneeUserIds: ['bea-beta'], data: { a: zeros } })).status).toBe(202);
    }
    const preview = await b.post('/api/v1/templates/preview', { tenantId: B, eventType: 'beta_bomb', channel: 'inapp', data: { a: zeros }, template: { title: bomb } });
    expect(preview.status).toBe(422);
    await eventually(async () => receiver.arrivals('/beta-failing-hook').length >= 5, 20_000);

    const aHook = '/alpha-healthy-hook-6b1f';
    expect((await alpha.post('/api/v1/rules', { tenantId: A, eventType: 'alpha_after_bomb', channel: 'webhook', webhookUrl: receiver.origin + aHook })).status).toBe(201);
    const started = Date.now();
    expect((await alpha.post('/api/v1/events', { id: 'evt-alpha-after-bomb', tenantId: A, type: 'alpha_after_bomb', assigneeUserIds: ['anna-alpha'], data: { title: 'after the bomb' } })).status).toBe(202);
    await eventually(async () => receiver.arrivals(aHook).length === 1, 10_000);
    await eventually(async () => ((await alpha.get('/api/v1/notifications', tokens['anna-alpha'])).body.items as { eventId: string }[]).some((n) => n.eventId === 'evt-alpha-after-bomb'), 10_000);
    report('hostile tenant', { 'A delivered after B’s bomb and breaker (ms)': Date.now() - started });
  }, 90_000);

  it('leaves A its own test-sends after B has used up B’s', async () => {
    const b = apiClient(url, B_KEY);
    const template = await b.post('/api/v1/templates', { tenantId: B, eventType: 'beta_spam', channel: 'email', subject: 'Spam', html: '<p>spam</p>' });
    expect(template.status).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await b.post(`/api/v1/templates/${template.body.id}/test-send`, { to: `victim${i}@spam.example` })).status);
    expect(statuses).toEqual([...Array.from({ length: 10 }, () => 202), 429]);
    expect((await alpha.post(`/api/v1/templates/${world.templateId}/test-send`, { to: 'alpha-ops-secret@alpha.example' })).status).toBe(202);
  });

  it('refuses A’s own tokens once they lack exp or are older than a day', async () => {
    const key = new TextEncoder().encode(env.config.JWT_SECRET);
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, number>) => new SignJWT({ tenants: [A], role: 'admin', ...claims }).setProtectedHeader({ alg: 'HS256' }).setSubject('alma-alpha-admin').sign(key);
    for (const token of [await sign({ iat: now }), await sign({ iat: now - 2 * 86_400, exp: now + 3_600 }), await sign({ exp: now + 30 * 86_400 })]) {
      for (const path of [`/api/v1/tenants/${A}`, `/api/v1/users?tenantId=${A}`, '/api/v1/notifications']) expect((await alpha.get(path, token)).status, path).toBe(401);
    }
  });
});
