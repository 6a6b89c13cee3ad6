import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackMessage } from '../../src/chat/slackMessage.ts';
import { teamsMessage } from '../../src/chat/teamsMessage.ts';
import { startChat } from '../../workers/roles/chat.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { sampleEvent } from '../chat/sampleEvent.ts';
import { capturingLogger, startScriptedReceiver, type ScriptedReceiver } from './receivers.ts';

let env: TestEnv;
let api: ApiClient;
let webUrl: string;
let receiver: ScriptedReceiver;
const logs = capturingLogger();

// The path of a chat webhook URL is its credential; each carries a marker the logs must never show.
const SLACK_TEAM = '/slack/T0001/B0001/team-token-a1b2';
const TEAMS_TEAM = '/teams/webhookb2/team-token-c3d4';
const SLACK_PERSONAL = '/slack/T0001/B0002/personal-token-e5f6';
const SLACK_GONE = '/slack/T0001/B0003/gone-token-0a0b';
const TEAMS_SELF = '/teams/webhookb2/self-service-token-7c8d';
const SLACK_MOVED_FROM = '/slack/T0001/B0004/moved-from-token-9e0f';
const SLACK_MOVED_TO = '/slack/T0001/B0005/moved-to-token-1a2c';

describe('chat worker, end to end', () => {
  beforeAll(async () => {
    receiver = await startScriptedReceiver();
    env = await createTestEnv({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', OUTBOUND_TIMEOUT_MS: '2000' });
    const web = await env.startWeb();
    await env.startRouter();
    await env.startRole((config) => startChat(config, logs.logger));
    webUrl = web.url;
    api = apiClient(web.url);
    await seedDirectory(api, 'acme', ['p1', 'p2']);
    const team = (id: string, body: Record<string, string>) => api.put(`/api/v1/teams/${id}`, { tenantId: 'acme', name: id, ...body });
    expect((await team('sec', { slackWebhookUrl: receiver.origin + SLACK_TEAM, teamsWebhookUrl: receiver.origin + TEAMS_TEAM })).status).toBe(201);
    expect((await team('gone', { slackWebhookUrl: receiver.origin + SLACK_GONE })).status).toBe(201);
  });
  afterAll(async () => {
    await env?.cleanup();
    await receiver?.close();
  });

  async function publish(body: Record<string, unknown>) {
    const res = await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', severity: 'high', ...body });
    expect(res.status).toBe(202);
  }

  async function chatDeliveries(eventId: string): Promise<any[]> {
    const res = await api.get(`/api/v1/events/${eventId}/deliveries`);
    return res.body.items.filter((i: any) => i.channel === 'slack' || i.channel === 'teams');
  }

  it('posts Block Kit and an Adaptive Card to an assigned team without any rule', async () => {
    const data = { title: 'Open S3 bucket', url: 'https://app.example/f/9' };
    await publish({ id: 'evt_team', assigneeTeamIds: ['sec'], occurredAt: '2026-11-23T10:00:00Z', data });
    const items = await eventually(async () => {
      const found = await chatDeliveries('evt_team');
      return found.length === 2 && found.every((i) => i.state === 'delivered') ? found : null;
    });
    expect(items.map((i) => [i.channel, i.destination]).sort()).toEqual([
      ['slack', 'team:sec'],
      ['teams', 'team:sec'],
    ]);

    const [slack] = receiver.arrivals(SLACK_TEAM);
    const posted = JSON.parse(slack!.body);
    expect(posted).toEqual(slackMessage(sampleEvent({ id: 'evt_team', assigneeTeamIds: ['sec'], data })));
    expect(posted.blocks.map((b: any) => b.type)).toEqual(['header', 'section', 'context', 'actions']);

    const [teams] = receiver.arrivals(TEAMS_TEAM);
    const card = JSON.parse(teams!.body);
    expect(card).toMatchObject({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null }] });
    expect(card).toEqual(teamsMessage(sampleEvent({ id: 'evt_team', assigneeTeamIds: ['sec'], data })));
  });

  it('posts to a user’s personal Slack only once they opt in', async () => {
    expect((await api.put('/api/v1/users/p1', { email: 'p1@acme.example', name: 'P1', tenantIds: ['acme'], slackWebhookUrl: receiver.origin + SLACK_PERSONAL })).status).toBe(200);
    await publish({ id: 'evt_personal_off', type: 'sla_breached', assigneeUserIds: ['p1'] });
    await eventually(async () => (await api.get('/api/v1/events/evt_personal_off/deliveries')).body.items?.length > 0);
    expect(await chatDeliveries('evt_personal_off')).toEqual([]);

    const optIn = await api.put('/api/v1/users/p1', {
      email: 'p1@acme.example',
      name: 'P1',
      tenantIds: ['acme'],
      slackWebhookUrl: receiver.origin + SLACK_PERSONAL,
      preferences: { 'sla_breached.slack': true },
    });
    expect(optIn.status).toBe(200);
    await publish({ id: 'evt_personal_on', type: 'sla_breached', assigneeUserIds: ['p1'], data: { title: 'SLA breached' } });
    const [item] = await eventually(async () => {
      const found = await chatDeliveries('evt_personal_on');
      return found[0]?.state === 'delivered' ? found : null;
    });
    expect(item).toMatchObject({ channel: 'slack', destination: 'user:p1', attempts: 1 });
    const posts = receiver.arrivals(SLACK_PERSONAL);
    expect(posts).toHaveLength(1);
    expect(JSON.parse(posts[0]!.body).text).toBe('[High] SLA breached');
  });

  it('posts to the Teams URL a user set for themselves through /me/chat and /me/preferences', async () => {
    const p2 = apiClient(webUrl, await env.userToken('p2', ['acme']));
    expect((await p2.put('/api/v1/me/chat', { teamsWebhookUrl: receiver.origin + TEAMS_SELF })).status).toBe(200);
    expect((await p2.patch('/api/v1/me/preferences', { 'sla_breached.teams': true })).status).toBe(200);
    await publish({ id: 'evt_self_service', type: 'sla_breached', assigneeUserIds: ['p2'], data: { title: 'SLA breached' } });
    const [item] = await eventually(async () => {
      const found = await chatDeliveries('evt_self_service');
      return found[0]?.state === 'delivered' ? found : null;
    });
    expect(item).toMatchObject({ channel: 'teams', destination: 'user:p2', attempts: 1 });
    expect(receiver.arrivals(TEAMS_SELF)).toHaveLength(1);
  });

  it('posts a retry to the Slack URL the user holds at that try, not the one they held when the event was routed', async () => {
    const user = (slackWebhookUrl: string) =>
      api.put('/api/v1/users/p3', { email: 'p3@acme.example', name: 'P3', tenantIds: ['acme'], slackWebhookUrl, preferences: { 'sla_breached.slack': true } });
    receiver.script(SLACK_MOVED_FROM, { status: 503, body: 'down for a deploy' });
    expect((await user(receiver.origin + SLACK_MOVED_FROM)).status).toBe(201);
    await publish({ id: 'evt_moved', type: 'sla_breached', assigneeUserIds: ['p3'], data: { title: 'SLA breached' } });
    // The first try meets the 503; the retry waits 1–2 s (chat's backoff), time to move the URL.
    await eventually(async () => receiver.arrivals(SLACK_MOVED_FROM).length === 1);
    expect((await user(receiver.origin + SLACK_MOVED_TO)).status).toBe(200);
    const [item] = await eventually(async () => {
      const found = await chatDeliveries('evt_moved');
      return found[0]?.state === 'delivered' ? found : null;
    });
    expect(item).toMatchObject({ channel: 'slack', destination: 'user:p3', attempts: 2 });
    expect(receiver.arrivals(SLACK_MOVED_FROM)).toHaveLength(1);
    expect(receiver.arrivals(SLACK_MOVED_TO)).toHaveLength(1);
  });

  it('says what a rule’s content says, and an urgent rule gets the attention colour', async () => {
    const rule = await api.post('/api/v1/rules', {
      tenantId: 'acme',
      eventType: 'deploy.*',
      channels: ['teams'],
      recipients: { kind: 'users', userIds: ['p2'] },
      priority: 'urgent',
      content: { title: 'Deploy of {{data.service}}', body: '{{data.version}} is live', url: 'https://deploy.example/{{data.service}}' },
    });
    expect(rule.status).toBe(201);
    const p2 = apiClient(webUrl, await env.userToken('p2', ['acme']));
    expect((await p2.patch('/api/v1/me/preferences', { 'deploy.finished.teams': true })).status).toBe(200);
    await publish({ id: 'evt_rule_content', type: 'deploy.finished', severity: 'low', occurredAt: '2026-11-23T10:00:00Z', data: { service: 'api', version: 'v42' } });
    const [item] = await eventually(async () => {
      const found = await chatDeliveries('evt_rule_content');
      return found[0]?.state === 'delivered' ? found : null;
    });
    expect(item).toMatchObject({ channel: 'teams', destination: 'user:p2' });
    const card = JSON.parse(receiver.arrivals(TEAMS_SELF).at(-1)!.body);
    const expected = teamsMessage(
      sampleEvent({ id: 'evt_rule_content', type: 'deploy.finished', severity: 'low', data: { service: 'api', version: 'v42' } }),
      { title: 'Deploy of api', body: 'v42 is live', url: 'https://deploy.example/api' },
      'urgent',
    );
    expect(card).toEqual(expected);
    const text = JSON.stringify(card);
    expect(text).toContain('Deploy of api');
    expect(text).toContain('v42 is live');
    expect(text).toContain('https://deploy.example/api');
    expect(text).toContain('"color":"Attention"');
  });

  it('fails a Slack 404 (a deleted webhook) at once, with Slack’s reason and without the URL', async () => {
    receiver.script(SLACK_GONE, { status: 404, body: 'no_service' });
    await publish({ id: 'evt_gone', assigneeTeamIds: ['gone'] });
    const [item] = await eventually(async () => {
      const found = await chatDeliveries('evt_gone');
      return found[0]?.state === 'failed' ? found : null;
    });
    expect(item).toMatchObject({ channel: 'slack', destination: 'team:gone', attempts: 1 });
    expect(item.lastError).toBe(`${receiver.origin}/… answered HTTP 404: no_service`);
  });

  it('never logs a chat webhook URL path', () => {
    const text = logs.lines.join('\n');
    expect(text).toContain('delivered');
    for (const path of [SLACK_TEAM, TEAMS_TEAM, SLACK_PERSONAL, SLACK_GONE, TEAMS_SELF, SLACK_MOVED_FROM, SLACK_MOVED_TO]) expect(text).not.toContain(path);
  });
});
