import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ruleBodies } from '../../src/http/routes/rules.ts';
import { generateVapidKeys } from '../../src/push/vapidKeys.ts';
import { RULE_PACKS } from '../../src/rules/packs/catalog.ts';
import { conversationsPack } from '../../src/rules/packs/conversations.ts';
import { compileTemplate, renderTemplate, templateContext } from '../../src/templates/content.ts';
import { brandContext } from '../../src/templates/branding.ts';
import { checkRuleContent } from '../../src/templates/ruleContent.ts';
import { withRenderBudget } from '../../src/templates/renderBudget.ts';
import { startEmail } from '../../workers/roles/email.ts';
import { startPush } from '../../workers/roles/push.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startMockPushService } from '../helpers/pushService.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { timelineOf } from '../helpers/timeline.ts';

const vapid = generateVapidKeys();
let env: TestEnv;
let api: ApiClient;
let smtp: SmtpReceiver;
let pushService: Awaited<ReturnType<typeof startMockPushService>>;
/** The mock push service's handle on each user's one device. */
const devices = new Map<string, string>();

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  pushService = await startMockPushService();
  env = await createTestEnv({
    SMTP_URL: smtp.url,
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1,localhost',
    VAPID_PUBLIC_KEY: vapid.publicKey,
    VAPID_PRIVATE_KEY: vapid.privateKey,
    VAPID_SUBJECT: 'mailto:ops@herald.test',
  });
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startEmail);
  await env.startRole(startPush);
  await seedDirectory(api, 'acme', ['ann', 'bob', 'sam']);
  await seedDirectory(api, 'globex', ['gus']);
  await seedDirectory(api, 'initech', []);
  for (const userId of ['ann', 'bob', 'sam']) {
    const { subscription, clientHash } = await pushService.subscribe(vapid.publicKey);
    expect((await api.post('/api/v1/me/push-subscriptions', subscription, await env.userToken(userId, ['acme']))).status).toBe(201);
    devices.set(userId, clientHash);
  }
});
afterAll(async () => {
  await env?.cleanup();
  await smtp?.close();
  await pushService?.close();
});

describe('the pack catalog', () => {
  const bodies = ruleBodies([]);

  it.each(RULE_PACKS.map((pack) => [pack.id, pack] as const))('%s: every rule is one the rules API accepts, its content renders with the pack’s sample data', (_id, pack) => {
    for (const rule of pack.rules) {
      const parsed = bodies.create.safeParse({ tenantId: 'acme', ...rule });
      expect(parsed.success, `${rule.eventType}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      if (rule.content) expect(checkRuleContent(rule.content, rule.eventType).problems, rule.eventType).toEqual([]);
    }
  });

  it.each(RULE_PACKS.map((pack) => [pack.id, pack] as const))('%s: every email template renders its event’s sample data within the render budget', (_id, pack) => {
    const brand = brandContext('Acme', {}).brand;
    for (const { eventType, ...fields } of pack.emailTemplates) {
      const data = pack.sampleData[eventType];
      expect(data, `sample data for ${eventType}`).toBeDefined();
      const event = { id: 'evt_sample', type: eventType, tenantId: 'acme', severity: null, actorId: null, occurredAt: new Date().toISOString(), assigneeUserIds: [], assigneeTeamIds: [], recipientUserIds: [], approval: null, data: data! };
      const rendered = withRenderBudget(() => renderTemplate(compileTemplate('email', fields), templateContext(event, null, brand)));
      expect(rendered).toMatchObject({ subject: expect.stringMatching(/\S/), html: expect.stringContaining('<html>'), text: expect.stringMatching(/\S/) });
    }
  });

  it('lists every pack with its rules as stored and the templates it ships, to service keys and admins only', async () => {
    const res = await api.get('/api/v1/rule-packs');
    expect(res.status).toBe(200);
    expect(res.body.items.map((p: { id: string }) => p.id)).toEqual(RULE_PACKS.map((p) => p.id));
    const conversations = res.body.items.find((p: { id: string }) => p.id === 'conversations');
    expect(conversations.emailTemplates).toEqual(['conversation.message_posted', 'task.failed']);
    expect(conversations.rules).toContainEqual({
      eventType: 'task.failed',
      channels: ['email', 'inapp', 'push'],
      severityFilter: '',
      recipients: { kind: 'data', path: 'ownerId' },
      priority: 'high',
      content: conversationsPack.rules[3]!.content,
      delivery: null,
    });
    expect((await api.get('/api/v1/rule-packs', ACME_KEY)).status).toBe(200);
    expect((await api.get('/api/v1/rule-packs', await env.userToken('ann', ['acme'], 'admin'))).status).toBe(200);
    expect((await api.get('/api/v1/rule-packs', await env.userToken('ann', ['acme']))).status).toBe(403);
    expect((await api.get('/api/v1/rule-packs', null)).status).toBe(401);
  });
});

describe('installing a pack', () => {
  it('adds the rules once, keeps a rule the tenant switched off switched off, and leaves an existing global template alone', async () => {
    // An operator's own global default for one of the pack's templates wins over the pack's.
    const own = await api.post('/api/v1/templates', { tenantId: null, eventType: 'task.failed', channel: 'email', subject: 'Ours: {{data.taskName}}', html: '<p>ours</p>' });
    expect(own.status).toBe(201);

    const first = await api.post('/api/v1/tenants/acme/rule-packs/conversations', {});
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ installed: 4, skipped: 0, templatesAdded: 1 });
    const rules = (await api.get('/api/v1/rules?tenantId=acme')).body.items;
    expect(rules.map((r: { eventType: string }) => r.eventType).sort()).toEqual(['conversation.created', 'conversation.message_posted', 'task.completed', 'task.failed']);
    expect(rules.find((r: { eventType: string }) => r.eventType === 'conversation.message_posted').delivery).toEqual({ fallback: { channel: 'email', afterSeconds: 300, unless: 'seen' } });

    const second = await api.post('/api/v1/tenants/acme/rule-packs/conversations', {}, ACME_KEY);
    expect(second.body).toEqual({ installed: 0, skipped: 4, templatesAdded: 0 });

    const created = rules.find((r: { eventType: string }) => r.eventType === 'conversation.created');
    expect((await api.patch(`/api/v1/rules/${created.id}`, { enabled: false })).status).toBe(200);
    expect((await api.post('/api/v1/tenants/acme/rule-packs/conversations', {})).body).toEqual({ installed: 0, skipped: 4, templatesAdded: 0 });
    expect((await api.get(`/api/v1/rules/${created.id}`)).body.enabled).toBe(false);
    expect((await api.get('/api/v1/rules?tenantId=acme')).body.items).toHaveLength(4);

    const templates = (await api.get('/api/v1/templates?channel=email')).body.items.filter((t: { tenantId: string | null }) => t.tenantId === null);
    expect(templates.map((t: { eventType: string; subject: string }) => [t.eventType, t.subject]).sort()).toEqual([
      ['conversation.message_posted', conversationsPack.emailTemplates[0]!.subject],
      ['task.failed', 'Ours: {{data.taskName}}'],
    ]);
    expect((await api.patch(`/api/v1/rules/${created.id}`, { enabled: true })).status).toBe(200);
  });

  it('installs exactly once when many installs race', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => api.post('/api/v1/tenants/globex/rule-packs/conversations', {})));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(answers.reduce((sum, a) => sum + a.body.installed, 0)).toBe(4);
    expect((await api.get('/api/v1/rules?tenantId=globex')).body.items).toHaveLength(4);
  });

  it('refuses what is not the caller’s, and names what does not exist', async () => {
    expect((await api.post('/api/v1/tenants/globex/rule-packs/conversations', {}, ACME_KEY)).status).toBe(403);
    expect((await api.post('/api/v1/tenants/acme/rule-packs/conversations', {}, await env.userToken('ann', ['acme']))).status).toBe(403);
    expect((await api.post('/api/v1/tenants/globex/rule-packs/conversations', {}, await env.userToken('ann', ['acme'], 'admin'))).status).toBe(403);
    expect((await api.post('/api/v1/tenants/acme/rule-packs/conversations', {}, null)).status).toBe(401);
    const noPack = await api.post('/api/v1/tenants/acme/rule-packs/nope', {});
    expect(noPack.status).toBe(404);
    expect(noPack.body.error.message).toContain('rule pack');
    const noTenant = await api.post('/api/v1/tenants/nowhere/rule-packs/conversations', {});
    expect(noTenant.status).toBe(404);
    expect(noTenant.body.error.message).toContain('tenant');
    expect((await api.get('/api/v1/rules?tenantId=initech')).body.items).toHaveLength(0);
  });
});

describe('the conversations pack, end to end', () => {
  const sample = conversationsPack.sampleData;

  async function publish(type: string, data: Record<string, unknown>, actorId: string | null = null): Promise<string> {
    const res = await api.post('/api/v1/events', { tenantId: 'acme', type, actorId, data });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  /** Who got what on which channel, once every delivery of the event settled. */
  async function outcome(eventId: string) {
    const rows = await eventually(async () => {
      const found = await timelineOf(env.db, 'acme', eventId);
      return found.length > 0 && found.every((d) => d.state !== 'pending') && found;
    });
    const inbox = await env.db.$client<{ user_id: string; title: string; body: string; url: string | null; priority: string }[]>`
      select user_id, title, body, url, priority from notifications where tenant_id = 'acme' and event_id = ${eventId} order by user_id`;
    return { deliveries: rows.map((d) => `${d.channel}:${d.destination}:${d.state}`), inbox };
  }

  async function pushesTo(userId: string, eventId: string) {
    const messages = await pushService.messages(devices.get(userId)!);
    return messages.map((m) => JSON.parse(m)).filter((m: { eventId: string }) => m.eventId === eventId);
  }

  it('a message reaches every participant but the sender, in-app and by push, with the rule’s text', async () => {
    const id = await publish('conversation.message_posted', sample['conversation.message_posted']!, 'sam');
    const { deliveries, inbox } = await outcome(id);
    // The email waits five minutes for each of them: sent only if the in-app notification is still unseen then.
    expect(deliveries).toEqual(['email:ann@acme.example:scheduled', 'email:bob@acme.example:scheduled', 'inapp:ann:sent', 'inapp:bob:sent', 'push:ann:delivered', 'push:bob:delivered']);
    const [fallback] = await env.db.$client`select not_before, fallback_unless, created_at from deliveries where event_id = ${id} and destination = 'ann@acme.example'`;
    expect(fallback!.fallback_unless).toBe('seen');
    expect(new Date(fallback!.not_before).getTime() - new Date(fallback!.created_at).getTime()).toBeGreaterThanOrEqual(299_000);
    expect(inbox.map((n) => [n.user_id, n.title, n.body, n.url])).toEqual([
      ['ann', 'Sam Rivera in Migration plan', 'Can you review the cut-over steps before Friday?', 'https://app.example.com/conversations/conv_81'],
      ['bob', 'Sam Rivera in Migration plan', 'Can you review the cut-over steps before Friday?', 'https://app.example.com/conversations/conv_81'],
    ]);
    const [push] = await eventually(() => pushesTo('ann', id));
    expect(push).toMatchObject({ title: 'Sam Rivera in Migration plan', body: 'Can you review the cut-over steps before Friday?', url: 'https://app.example.com/conversations/conv_81' });
    expect(await pushesTo('sam', id)).toEqual([]);
  });

  it('a new conversation reaches its participants in-app only', async () => {
    const id = await publish('conversation.created', sample['conversation.created']!, 'sam');
    const { deliveries, inbox } = await outcome(id);
    expect(deliveries).toEqual(['inapp:ann:sent', 'inapp:bob:sent']);
    expect(inbox[0]!.title).toBe('Sam Rivera added you to Migration plan');
  });

  it('a finished task tells its owner in-app and by push', async () => {
    const id = await publish('task.completed', sample['task.completed']!);
    const { deliveries, inbox } = await outcome(id);
    expect(deliveries).toEqual(['inapp:ann:sent', 'push:ann:delivered']);
    expect(inbox).toMatchObject([{ user_id: 'ann', title: 'Done: Nightly export', body: '1,204 rows exported.', priority: 'normal' }]);
  });

  it('a failed task tells its owner in-app, by push and by email, at high priority', async () => {
    smtp.reset();
    const id = await publish('task.failed', sample['task.failed']!);
    const { deliveries, inbox } = await outcome(id);
    expect(deliveries).toEqual(['email:ann@acme.example:sent', 'inapp:ann:sent', 'push:ann:delivered']);
    expect(inbox).toMatchObject([{ user_id: 'ann', title: 'Failed: Nightly export', body: 'connection reset by peer', priority: 'high' }]);
    const priorities = await env.db.$client`select distinct priority from deliveries where event_id = ${id}`;
    expect(priorities.map((p) => p.priority)).toEqual(['high']);
    // The operator's own global default (first test) is the template that applies.
    const [mail] = await eventually(async () => smtp.to('ann@acme.example').length > 0 && smtp.to('ann@acme.example'));
    expect(mail!.mail.subject).toBe('Ours: Nightly export');
  });
});
