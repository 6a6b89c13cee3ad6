/**
 * Fault scenario (issue #9): property-based fuzzing of every JSON body Herald takes — the
 * intake and the admin and self-service bodies — plus path segments and list queries. Valid
 * shapes with one field broken (wrong types, huge or hostile strings, NUL, lone surrogates,
 * deep nesting, `__proto__` keys, missing keys), arbitrary JSON and malformed JSON text.
 *
 * The property: never a 5xx and never a hang (template bombs among the hostile values: every
 * answer within 10 s); a 4xx is `{"error": {"code", "message", "details"}}`, and a 400 (or a
 * 422 other than SPEC's `unknown_tenant`, e.g. `template_too_expensive`) names the field in
 * `details[].field`; a batch's rejected events name theirs. Issue #14 adds: a cookie-authenticated
 * change from another origin is a 403 whatever headers come with it, any cookie text is at worst
 * a 401, and a token is accepted exactly when its exp and iat allow. Every problem is counted,
 * the first few are printed with what was sent, and the run is repeatable with FUZZ_SEED.
 */
import { createECDH, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateVapidKeys } from '../../src/push/vapidKeys.ts';
import { apiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';
import { report } from './harness/scenario.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_409);
/** Runs per body target; path/query targets take a share of it. Sized for ~30-60 s on two cores. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 140);

let env: TestEnv;
let smtp: SmtpReceiver;
let url: string;
let userToken: string;
const ids = { emailRuleId: '', webhookRuleId: '', emailTemplateId: '', inappTemplateId: '' };

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  const vapid = generateVapidKeys();
  env = await createTestEnv({ SMTP_URL: smtp.url, VAPID_PUBLIC_KEY: vapid.publicKey, VAPID_PRIVATE_KEY: vapid.privateKey, VAPID_SUBJECT: 'mailto:ops@herald.test' });
  url = (await env.startWeb()).url;
  const api = apiClient(url);
  const ok = async (what: string, res: Promise<{ status: number; body: any }>) => {
    const r = await res;
    if (r.status >= 300) throw new Error(`seed ${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  await ok('tenant', api.put('/api/v1/tenants/acme', { name: 'Acme' }));
  for (const id of ['u1', 'u2']) await ok(id, api.put(`/api/v1/users/${id}`, { email: `${id}@acme.example`, name: id, tenantIds: ['acme'] }));
  await ok('team', api.put('/api/v1/teams/t1', { tenantId: 'acme', name: 'Team 1' }));
  ids.emailRuleId = (await ok('rule', api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'seed_rule', channel: 'email', emailRecipients: ['ops@acme.example'] }))).id;
  ids.webhookRuleId = (await ok('rule', api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'seed_rule', channel: 'webhook', webhookUrl: 'https://hooks.example.com/seed' }))).id;
  ids.emailTemplateId = (await ok('template', api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'seed_template', channel: 'email', subject: 'S {{data.title}}', html: '<p>{{data.title}}</p>' }))).id;
  ids.inappTemplateId = (await ok('template', api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'seed_template', channel: 'inapp', title: 'T {{data.title}}' }))).id;
  userToken = await env.userToken('u1', ['acme']);
  adminToken = await env.userToken('root', ['acme'], 'admin');
}, 60_000);

afterAll(async () => {
  await env?.cleanup();
  await smtp?.close();
});

// ---- hostile values ---------------------------------------------------------------------

/** Stand-ins replaced in the JSON text: nesting too deep for JSON.stringify to build. */
const deepMarker = (depth: number, kind: 'array' | 'object') => `@@deep-${kind}-${depth}@@`;
const DEEP_PATTERN = /"@@deep-(array|object)-(\d+)@@"/g;
const expandDeep = (text: string) =>
  text.replace(DEEP_PATTERN, (_m, kind: string, n: string) => {
    const depth = Number(n);
    return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  });

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '', ' ', '\u0000', 'a\u0000b', '\uD800', 'x\uDC00y', '\u202Eevil', '\uFEFF', '\u2028', '🙂🙂', 'e\u0301', '%00', '%E0%A4%A',
      '../../etc/passwd', '<script>alert(1)</script>', "'; drop table users; --", '{{', '{{#each this}}{{/each}}', '{{> missing}}',
      '{{constructor.constructor "return 1"}}', '{{#if}}', '{{lookup . "__proto__"}}', '__proto__', 'constructor',
      // Issue #14: template bombs — nested loops over the data, exploding and self-calling inline partials, {{log}}.
      '{{#each data.a}}{{#each @root.data.a}}{{#each @root.data.a}}{{/each}}{{/each}}{{/each}}', '{{#data.a}}{{#@root.data.a}}x{{/@root.data.a}}{{/data.a}}',
      `{{#*inline "p0"}}xxxxxxxx{{/inline}}${Array.from({ length: 8 }, (_, i) => `{{#*inline "p${i + 1}"}}${`{{> p${i}}}`.repeat(8)}{{/inline}}`).join('')}{{> p8}}`,
      '{{#*inline "r"}}{{> r}}{{> r}}{{/inline}}{{> r}}', '{{log data}}', '{{data.a}}'.repeat(400),
      'https://hooks.slack.com/services/T0/B0/XYZ', 'http://169.254.169.254/latest/meta-data', 'https://127.0.0.1/x', 'javascript:alert(1)',
      'a@b.c', 'not-an-email', '2026-13-45T99:99:99Z', '2026-11-23T10:00:00Z', 'NaN', 'Infinity', '1e309', 'null', 'true', 'HIGH', 'urgent',
    ),
  },
  { weight: 2, arbitrary: fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map(([a, b]) => `${a}\u0000${b}`) },
  fc.constantFrom(1_000, 5_000, 70_000, 300_000).map((n) => 'x'.repeat(n)),
  fc.constantFrom(2_000, 40_000).map((n) => '{{a}}'.repeat(n)),
);

const withProtoKey = (key: '__proto__' | 'constructor' | 'prototype', value: unknown) => {
  const object: Record<string, unknown> = { ok: 1 };
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
};

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: hostileString },
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 1.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, -1e-308),
  fc.boolean(),
  { weight: 2, arbitrary: fc.constant(null) },
  fc.array(hostileString, { maxLength: 5 }),
  fc.constantFrom<unknown>([], {}, [null], [[]], { '': '' }, [{}], { length: 3 }),
  fc.dictionary(hostileString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.array(fc.constantFrom('u1', 'x'), { minLength: 1001, maxLength: 1001 }),
  fc.tuple(fc.constantFrom(64, 1_000, 10_000, 60_000), fc.constantFrom('array' as const, 'object' as const)).map(([d, k]) => deepMarker(k === 'object' ? Math.min(d, 40_000) : d, k)),
  fc.tuple(fc.constantFrom('__proto__' as const, 'constructor' as const, 'prototype' as const), fc.jsonValue({ maxDepth: 1 })).map(([k, v]) => withProtoKey(k, v)),
);

// ---- body mutations ---------------------------------------------------------------------

type Payload = { text: string; contentType: string };
type Json = Record<string, unknown> | unknown[];

const json = (value: unknown): string => expandDeep(JSON.stringify(value) ?? 'null');
const asJson = (text: string): Payload => ({ text, contentType: 'application/json' });

/** Every position in a value: a container and a key (or index) in it. */
function slots(value: unknown, out: { parent: Json; key: string | number }[] = []): { parent: Json; key: string | number }[] {
  if (Array.isArray(value)) value.forEach((v, i) => (out.push({ parent: value, key: i }), slots(v, out)));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) (out.push({ parent: value as Json, key: k }), slots(v, out));
  return out;
}

function containers(value: unknown, out: Json[] = []): Json[] {
  if (value && typeof value === 'object') {
    out.push(value as Json);
    for (const v of Object.values(value)) containers(v, out);
  }
  return out;
}

const clone = <T>(value: T): T => structuredClone(value);

function replaceAt(valid: unknown, pick: number, value: unknown): unknown {
  const copy = clone(valid);
  const all = slots(copy);
  if (all.length === 0) return value;
  const { parent, key } = all[pick % all.length]!;
  (parent as Record<string | number, unknown>)[key] = value;
  return copy;
}

function deleteAt(valid: unknown, pick: number): unknown {
  const copy = clone(valid);
  const all = slots(copy);
  if (all.length === 0) return copy;
  const { parent, key } = all[pick % all.length]!;
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete (parent as Record<string, unknown>)[key];
  return copy;
}

function addKeyAt(valid: unknown, pick: number, key: string, value: unknown): unknown {
  const copy = clone(valid);
  const all = containers(copy).filter((c) => !Array.isArray(c)) as Record<string, unknown>[];
  if (all.length === 0) return copy;
  Object.defineProperty(all[pick % all.length]!, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const malformedText = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<string> =>
  fc.oneof(
    valid.map((v) => json(v)).chain((text) => fc.nat({ max: Math.max(0, text.length - 2) }).map((n) => text.slice(0, n + 1))),
    fc.constantFrom('{', '}', '{"a":}', "{'a':1}", '{"a":1,}', '[1,2', 'nul', 'tru', '{"a":"\\x"}', '{"a":"\\u12"}', '\uFEFF{}', 'NaN', '{"a":NaN}', '{"a":1}{"b":2}', '--', '{"a":"\n"}', '"\\ud800"', '{"__proto__":{"polluted":1}}', '{"a":1e999}', '[' .repeat(100_000)),
    fc.string({ unit: 'binary', maxLength: 60 }),
  );

/** A valid-shaped body and every way this suite breaks it. */
function bodies(valid: fc.Arbitrary<unknown>): fc.Arbitrary<Payload> {
  const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'extraField', '');
  return fc.oneof(
    { weight: 3, arbitrary: valid.map((v) => asJson(json(v))) },
    { weight: 8, arbitrary: fc.tuple(valid, fc.nat(), hostileValue).map(([v, pick, value]) => asJson(json(replaceAt(v, pick, value)))) },
    { weight: 2, arbitrary: fc.tuple(valid, fc.nat(), fc.nat(), hostileValue, hostileValue).map(([v, a, b, x, y]) => asJson(json(replaceAt(replaceAt(v, a, x), b, y)))) },
    { weight: 3, arbitrary: fc.tuple(valid, fc.nat()).map(([v, pick]) => asJson(json(deleteAt(v, pick)))) },
    { weight: 3, arbitrary: fc.tuple(valid, fc.nat(), protoKey, hostileValue).map(([v, pick, key, value]) => asJson(json(addKeyAt(v, pick, key, value)))) },
    { weight: 1, arbitrary: valid.map((v) => asJson(json([v]))) },
    { weight: 1, arbitrary: hostileValue.map((v) => asJson(json(v))) },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => asJson(json(v))) },
    { weight: 1, arbitrary: fc.anything().map((v) => asJson(JSON.stringify(v) ?? 'undefined')) },
    { weight: 2, arbitrary: malformedText(valid).map(asJson) },
    {
      weight: 1,
      arbitrary: fc.tuple(valid, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/vnd.api+json', '')).map(([v, contentType]) => ({ text: json(v), contentType })),
    },
  );
}

// ---- valid shapes -----------------------------------------------------------------------

const idArb = fc.stringMatching(/^[a-z0-9][a-z0-9._:-]{0,24}$/);
const typeArb = fc.oneof(fc.constantFrom('finding_created', 'scan_completed', 'approval_requested', 'approval_approved', 'sla_breached'), idArb);
const severityArb = fc.constantFrom('', 'info', 'low', 'medium', 'high', 'critical', 'urgent', ' High ', null);
const emailArb = fc.oneof(fc.emailAddress(), fc.constantFrom('ops@acme.example', 'u1@acme.example'));
const userIdsArb = fc.array(fc.constantFrom('u1', 'u2', 'ghost'), { maxLength: 3 });
const dataArb = fc.oneof(
  fc.record({ title: fc.string({ maxLength: 30 }), url: fc.constantFrom('https://app.example/findings/42', 'javascript:alert(1)', '/relative') }, { requiredKeys: [] }),
  // What a template bomb needs to go off: a long list (and a long text to repeat).
  fc.constantFrom({ a: Array.from({ length: 80_000 }, () => 0) }, { a: Array.from({ length: 300 }, (_, i) => i), big: 'x'.repeat(100_000) }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

const eventArb = fc.record(
  {
    id: idArb.map((s) => `evt_${s}`),
    type: typeArb,
    tenantId: fc.constantFrom('acme', 'acme', 'no-such-tenant'),
    severity: severityArb,
    actorId: fc.constantFrom('u1', 'u2', null),
    assigneeUserIds: userIdsArb,
    assigneeTeamIds: fc.array(fc.constantFrom('t1', 'ghost-team'), { maxLength: 2 }),
    recipientUserIds: userIdsArb,
    approval: fc.option(fc.record({ requesterId: fc.constantFrom('u1', 'u2', null), approverCandidateIds: userIdsArb })),
    data: dataArb,
    occurredAt: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  },
  { requiredKeys: ['type', 'tenantId'] },
);

const slackUrl = fc.constantFrom('https://hooks.slack.com/services/T0/B0/XYZ', null);
const teamsUrl = fc.constantFrom('https://acme.webhook.office.com/webhookb2/x', null);
const preferencesArb = fc.dictionary(
  fc.oneof(
    fc.tuple(typeArb, fc.constantFrom('inapp', 'email', 'push', 'slack', 'teams', 'webhook')).map(([t, c]) => `${t}.${c}`),
    fc.constantFrom('sla_breach_email', 'new_finding_email', 'scan_complete_email'),
  ),
  fc.boolean(),
  { maxKeys: 5 },
);

/** Issue #14: templates that would run for ever, or render gigabytes, without the render budget. */
const bombs = [
  '{{#each data.a}}{{#each @root.data.a}}{{#each @root.data.a}}{{/each}}{{/each}}{{/each}}',
  '{{#each data.a}}{{{@root.data.big}}}{{/each}}',
  '{{#*inline "r"}}{{> r}}{{/inline}}{{> r}}',
];
const emailTemplateFields = fc.record(
  {
    subject: fc.constantFrom('Finding: {{data.title}}', 'Hi {{user.name}}', 'Plain'),
    html: fc.constantFrom('<p>{{data.title}}</p>', '<b>{{brand.companyName}}</b>', ...bombs, '<a href="x">'.repeat(5_000)),
    text: fc.constantFrom('{{data.title}}', 'text'),
  },
  { requiredKeys: ['subject', 'html'] },
);
const messageTemplateFields = fc.record(
  { title: fc.constantFrom('{{data.title}}', 'Title', ...bombs), body: fc.constantFrom('{{event.type}}', 'Body', ...bombs) },
  { requiredKeys: ['title'] },
);

const pushKeys = Array.from({ length: 4 }, () => {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
});
const endpointArb = idArb.map((s) => `https://fcm.googleapis.com/fcm/send/${s}`);

type Target = { name: string; method: string; path: () => string; token: () => string; payloads: fc.Arbitrary<Payload>; runs: number };

const admin = () => SERVICE_KEY;
const user = () => userToken;
let adminToken: string;

const targets: Target[] = [
  { name: 'intake event', method: 'POST', path: () => '/api/v1/events', token: admin, payloads: bodies(eventArb), runs: RUNS * 1.5 },
  {
    name: 'intake batch',
    method: 'POST',
    path: () => '/api/v1/events/batch',
    token: admin,
    payloads: fc.oneof(
      { weight: 9, arbitrary: bodies(fc.record({ events: fc.array(eventArb, { minLength: 1, maxLength: 4 }) })) },
      { weight: 1, arbitrary: fc.constantFrom(0, 1001).map((n) => asJson(json({ events: Array.from({ length: n }, (_, i) => ({ type: 'x', tenantId: 'acme', id: `evt_many_${i}` })) }))) },
    ),
    runs: RUNS * 1.5,
  },
  { name: 'tenant', method: 'PUT', path: () => `/api/v1/tenants/fuzz-${randomBytes(3).toString('hex')}`, token: admin, payloads: bodies(fc.record({ name: fc.string({ minLength: 1, maxLength: 40 }) })), runs: RUNS },
  {
    name: 'user',
    method: 'PUT',
    path: () => `/api/v1/users/fuzz-${randomBytes(3).toString('hex')}`,
    token: admin,
    payloads: bodies(
      fc.record(
        { email: emailArb, name: fc.string({ minLength: 1, maxLength: 40 }), tenantIds: fc.constantFrom(['acme'], ['acme', 'acme'], ['acme', 'nope']), slackWebhookUrl: slackUrl, teamsWebhookUrl: teamsUrl, preferences: preferencesArb },
        { requiredKeys: ['email', 'name', 'tenantIds'] },
      ),
    ),
    runs: RUNS,
  },
  {
    name: 'team',
    method: 'PUT',
    path: () => `/api/v1/teams/fuzz-${randomBytes(3).toString('hex')}`,
    token: admin,
    payloads: bodies(fc.record({ tenantId: fc.constantFrom('acme', 'nope'), name: fc.string({ minLength: 1, maxLength: 40 }), slackWebhookUrl: slackUrl, teamsWebhookUrl: teamsUrl }, { requiredKeys: ['tenantId', 'name'] })),
    runs: RUNS,
  },
  {
    name: 'rule create',
    method: 'POST',
    path: () => '/api/v1/rules',
    token: admin,
    payloads: bodies(
      fc.oneof(
        fc.record({ tenantId: fc.constantFrom('acme', 'nope'), eventType: typeArb, channel: fc.constant('email'), severityFilter: severityArb, enabled: fc.boolean(), emailRecipients: fc.array(emailArb, { maxLength: 3 }) }, { requiredKeys: ['tenantId', 'eventType', 'channel'] }),
        fc.record({ tenantId: fc.constant('acme'), eventType: typeArb, channel: fc.constant('webhook'), severityFilter: severityArb, webhookUrl: fc.constantFrom('https://hooks.example.com/x', 'https://receiver.example.org/herald') }, { requiredKeys: ['tenantId', 'eventType', 'channel', 'webhookUrl'] }),
      ),
    ),
    runs: RUNS,
  },
  {
    name: 'rule patch',
    method: 'PATCH',
    path: () => `/api/v1/rules/${ids.emailRuleId}`,
    token: admin,
    payloads: bodies(fc.record({ eventType: typeArb, severityFilter: severityArb, enabled: fc.boolean(), emailRecipients: fc.array(emailArb, { maxLength: 3 }), channel: fc.constant('email'), tenantId: fc.constant('acme') }, { requiredKeys: [] })),
    runs: RUNS,
  },
  {
    name: 'webhook rule patch',
    method: 'PATCH',
    path: () => `/api/v1/rules/${ids.webhookRuleId}`,
    token: admin,
    payloads: bodies(fc.record({ webhookUrl: fc.constantFrom('https://hooks.example.com/y', null), enabled: fc.boolean() }, { requiredKeys: [] })),
    runs: RUNS / 2,
  },
  {
    name: 'branding',
    method: 'PUT',
    path: () => '/api/v1/tenants/acme/branding',
    token: admin,
    payloads: bodies(
      fc.record(
        { logoUrl: fc.constantFrom('https://cdn.acme.example/logo.png', null), primaryColor: fc.constantFrom('#aabbcc', '#ABC', null), secondaryColor: fc.constantFrom('#000000', null), companyName: fc.string({ maxLength: 30 }), footerText: fc.string({ maxLength: 60 }), replyTo: fc.oneof(emailArb, fc.constant(null)) },
        { requiredKeys: [] },
      ),
    ),
    runs: RUNS,
  },
  {
    name: 'template create',
    method: 'POST',
    path: () => '/api/v1/templates',
    token: admin,
    payloads: bodies(
      fc.oneof(
        fc.tuple(fc.constantFrom('acme', null, 'nope'), typeArb, emailTemplateFields).map(([tenantId, eventType, f]) => ({ tenantId, eventType, channel: 'email', ...f })),
        fc.tuple(fc.constantFrom('acme', null), typeArb, fc.constantFrom('inapp', 'push', 'slack', 'teams', 'webhook'), messageTemplateFields).map(([tenantId, eventType, channel, f]) => ({ tenantId, eventType, channel, ...f })),
      ),
    ),
    runs: RUNS,
  },
  { name: 'template version', method: 'POST', path: () => `/api/v1/templates/${ids.emailTemplateId}/versions`, token: admin, payloads: bodies(emailTemplateFields), runs: RUNS },
  { name: 'inapp template version', method: 'POST', path: () => `/api/v1/templates/${ids.inappTemplateId}/versions`, token: admin, payloads: bodies(messageTemplateFields), runs: RUNS / 2 },
  {
    name: 'template preview',
    method: 'POST',
    path: () => '/api/v1/templates/preview',
    token: admin,
    payloads: bodies(
      fc.record(
        {
          tenantId: fc.constantFrom('acme', null),
          eventType: typeArb,
          channel: fc.constantFrom('email', 'inapp', 'push'),
          data: fc.option(dataArb),
          template: fc.option(fc.oneof(emailTemplateFields, messageTemplateFields)),
        },
        { requiredKeys: ['tenantId', 'eventType', 'channel'] },
      ),
    ),
    runs: RUNS,
  },
  {
    name: 'template test-send',
    method: 'POST',
    path: () => `/api/v1/templates/${ids.emailTemplateId}/test-send`,
    token: admin,
    payloads: bodies(fc.record({ to: emailArb, data: fc.option(dataArb), tenantId: fc.constantFrom('acme', null) }, { requiredKeys: ['to'] })),
    runs: RUNS / 2,
  },
  { name: 'preferences put', method: 'PUT', path: () => '/api/v1/me/preferences', token: user, payloads: bodies(preferencesArb), runs: RUNS },
  { name: 'my chat', method: 'PUT', path: () => '/api/v1/me/chat', token: user, payloads: bodies(fc.record({ slackWebhookUrl: slackUrl, teamsWebhookUrl: teamsUrl }, { requiredKeys: [] })), runs: RUNS / 2 },
  { name: 'preferences patch', method: 'PATCH', path: () => '/api/v1/me/preferences', token: user, payloads: bodies(preferencesArb), runs: RUNS / 2 },
  // Merges that keep adding keys: past 1,000 stored keys the answer is a 400 naming (body) (SPEC §7.1).
  {
    name: 'preferences patch, many keys',
    method: 'PATCH',
    path: () => '/api/v1/me/preferences',
    token: user,
    payloads: fc.integer({ min: 50, max: 400 }).map((n) => asJson(json(Object.fromEntries(Array.from({ length: n }, () => [`k${randomBytes(6).toString('hex')}.email`, true]))))),
    runs: RUNS / 4,
  },
  {
    name: 'push subscribe',
    method: 'POST',
    path: () => '/api/v1/me/push-subscriptions',
    token: user,
    payloads: bodies(fc.record({ endpoint: endpointArb, expirationTime: fc.constantFrom(null, 1_900_000_000_000), keys: fc.constantFrom(...pushKeys) }, { requiredKeys: ['endpoint', 'keys'] })),
    runs: RUNS,
  },
  { name: 'push unsubscribe', method: 'DELETE', path: () => '/api/v1/me/push-subscriptions', token: user, payloads: bodies(fc.record({ endpoint: endpointArb })), runs: RUNS / 2 },
];

// ---- paths and queries ------------------------------------------------------------------

/** A hostile path segment, sent encoded (what a client library does) or raw (what an attacker does). */
const segmentArb: fc.Arbitrary<string> = fc.oneof(
  hostileString.filter((s) => s.length > 0 && s.length < 5_000).map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '?'))),
  fc.constantFrom('%00', '%', '%E0%A4%A', '%ZZ', '%2F', '..', '%2e%2e', '00000000-0000-0000-0000-000000000000', '99999999999999999999', '-1', '1e3', '0x10', 'null', '%C0%AF', ';', '*'),
);

type PathTarget = { name: string; method: string; path: (s: string) => string; token: () => string };
const pathTargets: PathTarget[] = [
  { name: 'tenant by id', method: 'GET', path: (s) => `/api/v1/tenants/${s}`, token: admin },
  { name: 'tenant put by id', method: 'PUT', path: (s) => `/api/v1/tenants/${s}`, token: admin },
  { name: 'branding by tenant', method: 'GET', path: (s) => `/api/v1/tenants/${s}/branding`, token: admin },
  { name: 'user by id', method: 'GET', path: (s) => `/api/v1/users/${s}`, token: admin },
  { name: 'user delete by id', method: 'DELETE', path: (s) => `/api/v1/users/${s}`, token: admin },
  { name: 'team by id', method: 'GET', path: (s) => `/api/v1/teams/${s}`, token: admin },
  { name: 'rule by id', method: 'GET', path: (s) => `/api/v1/rules/${s}`, token: admin },
  { name: 'template by id', method: 'GET', path: (s) => `/api/v1/templates/${s}/versions`, token: admin },
  { name: 'deliveries by event', method: 'GET', path: (s) => `/api/v1/events/${s}/deliveries`, token: admin },
  { name: 'delivery retry', method: 'POST', path: (s) => `/api/v1/deliveries/${s}/retry`, token: admin },
  { name: 'notification read', method: 'POST', path: (s) => `/api/v1/notifications/${s}/read`, token: user },
  { name: 'users list', method: 'GET', path: (s) => `/api/v1/users?tenantId=${s}&limit=${s}`, token: admin },
  { name: 'rules list', method: 'GET', path: (s) => `/api/v1/rules?eventType=${s}&channel=${s}`, token: admin },
  { name: 'templates list', method: 'GET', path: (s) => `/api/v1/templates?tenantId=acme&channel=${s}&limit=${s}`, token: admin },
  { name: 'inbox list', method: 'GET', path: (s) => `/api/v1/notifications?cursor=${s}&read=${s}&type=${s}&limit=${s}`, token: user },
  { name: 'inbox repeated query', method: 'GET', path: (s) => `/api/v1/notifications?limit=1&limit=2&type=${s}&type=${s}`, token: user },
];

// ---- the property -----------------------------------------------------------------------

type Problem = { kind: '5xx' | 'unnamed' | 'hang' | 'csrf' | 'token'; target: string; status: number; sent: string; answer: string };

/** An answer slower than this is a problem: a template bomb (or anything else) holding the API. */
const ANSWER_WITHIN_MS = 10_000;

let requests = 0;
const problems: Problem[] = [];

async function send(method: string, path: string, token: string, payload?: Payload): Promise<{ status: number; text: string }> {
  return sendWith(method, path, { authorization: `Bearer ${token}` }, payload);
}

/** One request with exactly these credential headers; status 0 when there was no answer in time. */
async function sendWith(method: string, path: string, headers: Record<string, string>, payload?: Payload): Promise<{ status: number; text: string }> {
  const all = { ...headers, ...(payload?.contentType && { 'content-type': payload.contentType }) };
  requests++;
  try {
    const res = await fetch(url + path, { method, headers: all, body: payload?.text, signal: AbortSignal.timeout(ANSWER_WITHIN_MS) });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    if ((err as Error).name !== 'TimeoutError') throw err;
    return { status: 0, text: `no answer within ${ANSWER_WITHIN_MS} ms` };
  }
}

/** What is wrong with an answer, if anything: a 5xx, or a 4xx a client could not act on. */
function judge(status: number, text: string): Problem['kind'] | null {
  if (status === 0) return 'hang';
  if (status >= 500) return '5xx';
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return status >= 400 ? 'unnamed' : null;
  }
  if (status === 200 && Array.isArray(body?.results)) {
    // A batch: each rejected event says which field — `events.2.type: …`, or `tenantId: …` for scope and directory.
    const rejected = body.results.filter((r: { status: string }) => r.status === 'rejected');
    return rejected.every((r: { error?: unknown }) => typeof r.error === 'string' && /^(events\.\d+[.:]|tenantId: )/.test(r.error)) ? null : 'unnamed';
  }
  if (status < 400) return null;
  const error = body?.error;
  if (!error || typeof error.code !== 'string' || typeof error.message !== 'string' || error.message === '' || !Array.isArray(error.details)) return 'unnamed';
  const validation = status === 400 || (status === 422 && error.code !== 'unknown_tenant');
  if (validation && (error.details.length === 0 || error.details.some((d: { field?: unknown }) => typeof d?.field !== 'string' || d.field === ''))) return 'unnamed';
  if (error.code === 'unknown_tenant' && !/unknown tenant/.test(error.message)) return 'unnamed';
  return null;
}

function record(kind: Problem['kind'], target: string, status: number, sent: string, answer: string): void {
  problems.push({ kind, target, status, sent: sent.length > 1500 ? `${sent.slice(0, 1500)}… (${sent.length} chars)` : sent, answer: answer.slice(0, 300) });
}

describe('fault: fuzzing the intake and admin bodies', () => {
  afterAll(() => {
    const seen = new Set<string>();
    for (const p of problems) {
      // One example per target, status and answer code is enough to find the cause.
      const key = `${p.kind} ${p.target} ${p.status} ${p.answer.slice(0, 60)}`;
      if (seen.has(key) || seen.size >= 25) continue;
      seen.add(key);
      console.log(`  ${p.kind.toUpperCase()} ${p.target}: ${p.status} ${p.answer}\n      sent ${JSON.stringify(p.sent)}`);
    }
    if (problems.length > 0) console.log(`  (seed ${SEED}; rerun with FUZZ_SEED=${SEED})`);
    const count = (kind: Problem['kind']) => problems.filter((p) => p.kind === kind).length;
    report('fuzz', { requests, '5xx': count('5xx'), 'unnamed 4xx': count('unnamed'), hangs: count('hang'), 'cross-site cookie let through': count('csrf'), 'token misjudged': count('token') });
  });

  it.each(targets.map((t, i) => [t.name, t, i] as const))('body: %s', async (_name, target, index) => {
    const before = problems.length;
    await fc.assert(
      fc.asyncProperty(target.payloads, async (payload) => {
        const path = target.path();
        const res = await send(target.method, path, target.token(), payload);
        const kind = judge(res.status, res.text);
        if (kind) record(kind, `${target.method} ${path.replace(/fuzz-[0-9a-f]+/, 'fuzz-…')}`, res.status, `${payload.contentType} ${payload.text}`, res.text);
        return true;
      }),
      { seed: SEED + index, numRuns: Math.ceil(target.runs), endOnFailure: true },
    );
    expect(problems.slice(before).map((p) => `${p.kind} ${p.status} ${p.answer.slice(0, 80)}`)).toEqual([]);
  });

  it.each(pathTargets.map((t, i) => [t.name, t, i] as const))('path/query: %s', async (_name, target, index) => {
    const before = problems.length;
    await fc.assert(
      fc.asyncProperty(segmentArb, async (segment) => {
        const path = target.path(segment);
        const body = target.method === 'PUT' ? { text: '{"name":"x"}', contentType: 'application/json' } : undefined;
        const res = await send(target.method, path, target.token(), body);
        const kind = judge(res.status, res.text);
        if (kind) record(kind, `${target.method} ${target.name}`, res.status, path, res.text);
        return true;
      }),
      { seed: SEED + 1000 + index, numRuns: Math.ceil(RUNS / 4), endOnFailure: true },
    );
    expect(problems.slice(before).map((p) => `${p.kind} ${p.status} ${p.sent.slice(0, 80)}`)).toEqual([]);
  });

  // Issue #14 item 8: whatever Origin and Sec-Fetch-Site a page can make the browser send, a
  // cookie-authenticated change from anywhere but this host is a 403.
  it('cookie: state changes from another origin are refused', async () => {
    const before = problems.length;
    const writes: [string, string, unknown, () => string][] = [
      ['POST', '/api/v1/notifications/read-all', undefined, user],
      ['PATCH', '/api/v1/me/preferences', { 'finding_created.email': false }, user],
      ['PUT', '/api/v1/me/chat', { slackWebhookUrl: 'https://hooks.slack.com/services/T0/B0/XYZ' }, user],
      ['DELETE', '/api/v1/me/push-subscriptions', { endpoint: 'https://fcm.googleapis.com/fcm/send/x' }, user],
      ['POST', `/api/v1/notifications/1/read`, undefined, user],
      ['PUT', '/api/v1/tenants/acme', { name: 'Acme' }, () => adminToken],
      ['POST', '/api/v1/rules', { tenantId: 'acme', eventType: 'csrf', channel: 'email', emailRecipients: ['x@acme.example'] }, () => adminToken],
    ];
    const own = new URL(url);
    const origins = fc.option(fc.constantFrom('https://evil.example', 'null', '', 'not a url', url, `http://localhost:${own.port}`, `http://127.0.0.1:${Number(own.port) + 1}`, `https://${own.host}`, `${url}.evil.example`));
    const sites = fc.option(fc.constantFrom('same-origin', 'same-site', 'cross-site', 'none', 'SAME-ORIGIN', ''));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: writes.length - 1 }), origins, sites, async (which, origin, site) => {
        const [method, path, body, token] = writes[which]!;
        const headers: Record<string, string> = { cookie: `herald_token=${token()}`, ...(origin !== null && { origin }), ...(site !== null && { 'sec-fetch-site': site }) };
        const res = await sendWith(method, path, headers, body === undefined ? undefined : asJson(JSON.stringify(body)));
        const sameOrigin = site === 'same-origin' || (origin !== null && hostOf(origin) === own.host);
        const kind = judge(res.status, res.text) ?? (!sameOrigin && res.status !== 403 ? 'csrf' : null);
        if (kind) record(kind, `${method} ${path} by cookie`, res.status, JSON.stringify(headers).replace(token(), '<token>'), res.text);
        return true;
      }),
      { seed: SEED + 2000, numRuns: RUNS, endOnFailure: true },
    );
    expect(problems.slice(before).map((p) => `${p.kind} ${p.status} ${p.sent.slice(0, 120)}`)).toEqual([]);
  });

  // Issue #14 items 4 and 9: any cookie text is at worst a 401, and a token lives by exp and iat.
  it('credentials: broken cookies are 401, tokens need exp and at most a day of age', async () => {
    const before = problems.length;
    const cookieText = fc.oneof(
      fc.stringMatching(/^(%[0-9A-Fa-z]{0,2}|[A-Za-z0-9._-]){1,40}$/),
      hostileString.filter((t) => /^[\x20-\x7e]{1,200}$/.test(t) && !t.includes(';')),
    );
    await fc.assert(
      fc.asyncProperty(cookieText, async (value) => {
        const res = await sendWith('GET', '/api/v1/notifications/summary', { cookie: `herald_token=${value}` });
        const kind = judge(res.status, res.text) ?? (res.status !== 401 ? 'token' : null);
        if (kind) record(kind, 'GET summary with a cookie', res.status, value, res.text);
        return true;
      }),
      { seed: SEED + 3000, numRuns: RUNS, endOnFailure: true },
    );
    const key = new TextEncoder().encode(env.config.JWT_SECRET);
    const minutes = (min: number, max: number) => fc.option(fc.integer({ min, max }).map((m) => m * 60));
    await fc.assert(
      fc.asyncProperty(minutes(-3 * 1440, 3 * 1440), minutes(-1440, 40 * 1440), async (iatOffset, expOffset) => {
        const now = Math.floor(Date.now() / 1000);
        // Within two minutes of a limit the answer depends on the second the check runs in.
        const nearLimit = (iatOffset !== null && (Math.abs(iatOffset + 86_400) < 120 || Math.abs(iatOffset - 60) < 120)) || (expOffset !== null && (Math.abs(expOffset) < 120 || Math.abs(expOffset - 86_400) < 120));
        fc.pre(!nearLimit);
        const claims = { tenants: ['acme'], ...(iatOffset !== null && { iat: now + iatOffset }), ...(expOffset !== null && { exp: now + expOffset }) };
        const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(key);
        const valid = expOffset !== null && expOffset > 0 && (iatOffset !== null ? iatOffset <= 60 && -iatOffset <= 86_400 : expOffset <= 86_400);
        const res = await send('GET', '/api/v1/notifications/summary', token);
        const kind = judge(res.status, res.text) ?? (res.status !== (valid ? 200 : 401) ? 'token' : null);
        if (kind) record(kind, 'GET summary with a token', res.status, JSON.stringify({ iatOffset, expOffset }), res.text);
        return true;
      }),
      { seed: SEED + 3001, numRuns: RUNS, endOnFailure: true },
    );
    expect(problems.slice(before).map((p) => `${p.kind} ${p.status} ${p.sent.slice(0, 120)}`)).toEqual([]);
  });
});

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}
