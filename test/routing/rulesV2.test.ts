import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INLINE_INAPP_MAX } from '../../src/queues/catalog.ts';
import { openStream } from '../helpers/sse.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * Rules v2 over HTTP, end to end (SPEC §3.1): patterns, every resolver, the actor rule, skips
 * on the timeline, priority per person, and the content of the rule that won each person.
 */
let env: TestEnv;
let api: ApiClient;
let webUrl: string;

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  webUrl = web.url;
  await env.startRouter();
  await env.startInapp();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['bob', 'cat']);
  await seedDirectory(api, 'globex', ['dan']);
  const person = (id: string, roles: string[]) => api.put(`/api/v1/users/${id}`, { email: `${id}@acme.example`, name: id.toUpperCase(), tenantIds: ['acme'], roles: { acme: roles } });
  expect((await person('ann', ['admin'])).status).toBe(201);
  expect((await person('eve', ['admin', 'oncall'])).status).toBe(201);
  expect((await api.put('/api/v1/teams/ops', { tenantId: 'acme', name: 'Ops', memberIds: ['cat', 'dan', 'ghost'] })).status).toBe(201);

  const rules = [
    { eventType: 'provisioning.*', channels: ['inapp'], recipients: { kind: 'role', role: 'admin' }, priority: 'high', content: { title: 'Admin: {{data.host}} {{humanize event.type}}' } },
    { eventType: '*.failed', channels: ['inapp'], recipients: { kind: 'teams', teamIds: ['ops'] } },
    { eventType: 'provisioning.*', channels: ['inapp'], recipients: { kind: 'data', path: 'participantIds' }, content: { title: 'You follow {{data.host}}' } },
    { eventType: '*', channels: ['inapp'], recipients: { kind: 'role', role: 'oncall' }, priority: 'urgent', content: { title: 'On call: {{event.type}}' } },
    { eventType: 'order.*', channels: ['inapp'], recipients: { kind: 'users', userIds: ['bob'] } },
    { eventType: 'rollout.*', channels: ['inapp'], recipients: { kind: 'role', role: 'crowd' }, priority: 'high', content: { title: 'Rollout on {{data.host}}' } },
  ];
  for (const rule of rules) {
    const res = await api.post('/api/v1/rules', { tenantId: 'acme', ...rule });
    if (res.status !== 201) throw new Error(`rule ${rule.eventType}: ${res.status} ${JSON.stringify(res.body)}`);
  }
});
afterAll(() => env?.cleanup());

async function publish(body: Record<string, unknown>): Promise<string> {
  const res = await api.post('/api/v1/events', { tenantId: 'acme', ...body });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

/** The event's inbox rows, once routing recorded the plan. */
async function routed(eventId: string) {
  await eventually(async () => (await routedEventIds(env.db.$client, [eventId])).length === 1);
  const timeline = (await api.get(`/api/v1/events/${eventId}/deliveries`)).body.items as { channel: string; destination: string; state: string; lastError: string | null }[];
  const inbox = await env.db.$client<{ user_id: string; title: string; priority: string }[]>`
    select user_id, title, priority from notifications where tenant_id = 'acme' and event_id = ${eventId} order by user_id`;
  return { timeline, inbox: inbox.map((n) => [n.user_id, n.priority, n.title]) };
}

describe('rules v2, end to end', () => {
  it('gives a fan-out past the router’s inline limit its rule’s priority and content through the in-app worker', async () => {
    const crowd = Array.from({ length: INLINE_INAPP_MAX + 10 }, (_, i) => `crowd${String(i).padStart(3, '0')}`);
    await env.db.$client`
      insert into users (id, email, name, tenant_ids, roles)
      select id, id || '@acme.example', id, array['acme'], '{"acme": ["crowd"]}'::jsonb from unnest(${crowd}::text[]) as id`;
    const id = await publish({ type: 'rollout.started', data: { host: 'db-9' } });
    await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where event_id = ${id}`)[0]!.n === crowd.length + 1, 20_000);
    const { inbox } = await routed(id);
    expect(inbox).toEqual([...crowd.map((user) => [user, 'high', 'Rollout on db-9']), ['eve', 'urgent', 'On call: rollout.started']]);
  });

  it('routes by pattern and resolver, never to the actor, skipping unknown and foreign ids on the timeline', async () => {
    const id = await publish({ type: 'provisioning.failed', actorId: 'ann', data: { host: 'db-1', participantIds: ['bob', 'ghost2', 'ann'] } });
    const { timeline, inbox } = await routed(id);
    expect(inbox).toEqual([
      // bob through the data path; cat through the team; eve as admin (high) and on call (urgent): the urgent rule's content wins.
      ['bob', 'normal', 'You follow db-1'],
      ['cat', 'normal', 'Provisioning failed'],
      ['eve', 'urgent', 'On call: provisioning.failed'],
    ]);
    // ann is the actor (an admin and a participant); dan is not of acme; ghost and ghost2 are nobody.
    const skipped = timeline.filter((d) => d.state === 'skipped').map((d) => [d.destination, d.lastError]);
    expect(skipped.sort()).toEqual([
      ['dan', 'not a user of tenant acme'],
      ['ghost', 'no such user'],
      ['ghost2', 'no such user'],
    ]);
    expect(timeline.some((d) => d.destination === 'ann')).toBe(false);
  });

  it('a pattern does not match what it should not, and the event’s own recipients keep their in-app row', async () => {
    const id = await publish({ type: 'order.created', assigneeUserIds: ['cat'], data: { title: 'Order 7' } });
    const { inbox } = await routed(id);
    // order.* reaches bob; * reaches eve; provisioning.* and *.failed do not match; cat is the event's own recipient.
    expect(inbox).toEqual([
      ['bob', 'normal', 'Order 7'],
      ['cat', 'normal', 'Order 7'],
      ['eve', 'urgent', 'On call: order.created'],
    ]);
  });

  it('the event’s priority is the floor, and the frame carries each person’s priority', async () => {
    const stream = openStream(webUrl, await env.userToken('bob', ['acme']));
    try {
      await stream.opened;
      const id = await publish({ type: 'order.shipped', priority: 'high', data: { title: 'Order 8 shipped' } });
      const frame = await eventually(async () => stream.frames.find((f) => f.type === 'notification' && f.data.eventId === id));
      expect(frame.data).toMatchObject({ priority: 'high', title: 'Order 8 shipped' });
      expect((await routed(id)).inbox).toEqual([
        ['bob', 'high', 'Order 8 shipped'],
        ['eve', 'urgent', 'On call: order.shipped'],
      ]);
    } finally {
      stream.close();
    }
  });

  it('applies a rule change to the next event', async () => {
    const list = (await api.get('/api/v1/rules?tenantId=acme')).body.items as { id: string; eventType: string; recipients: { kind: string } }[];
    const orders = list.find((r) => r.eventType === 'order.*')!;
    expect((await api.patch(`/api/v1/rules/${orders.id}`, { enabled: false })).status).toBe(200);
    const id = await publish({ type: 'order.cancelled', data: { title: 'Order 9 cancelled' } });
    expect((await routed(id)).inbox.map(([user]) => user)).toEqual(['eve']);
    expect((await api.patch(`/api/v1/rules/${orders.id}`, { enabled: true })).status).toBe(200);
  });
});
