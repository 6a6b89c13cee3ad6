import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, createDb, GENERIC_PLAN_SETTINGS } from '../../src/db/client.ts';
import { closeQueues, createQueues, deliveryGroupJobId, deliveryJobId, INAPP_BATCH_SIZE, INLINE_INAPP_MAX, routeJobId, type Queues } from '../../src/queues/catalog.ts';
import { ASK_WHO_LISTENS_ABOVE } from '../../src/inbox/inboxWriter.ts';
import { createFramePublisher, parseFrameMessage, tenantChannel, userChannel, type LiveFrame } from '../../src/realtime/liveFrames.ts';
import { GENERIC_PLAN_MAX_ELEMENTS, routeEvents, type RouteDeps } from '../../src/routing/routeEvents.ts';
import { createRuleCache } from '../../src/routing/ruleCache.ts';
import { directSource } from '../../src/templates/templateRenderer.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { jobGroupOf, routedEventIds, storeUnroutedEvents } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { timelineOf } from '../helpers/timeline.ts';

let env: TestEnv;
let api: ApiClient;
let queues: Queues;
let deps: RouteDeps;
const ruleIds: Record<string, string> = {};

const SLACK = 'https://hooks.slack.com/services/T000/B000/team';

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  await env.startRouter();
  api = apiClient(web.url);
  queues = createQueues(env.redis, env.config.REDIS_PREFIX);
  deps = { db: env.db, queues, frames: createFramePublisher(env.redis, env.config.REDIS_PREFIX), templates: directSource(env.db), rules: createRuleCache(env.db) };

  await seedDirectory(api, 'acme', ['u1', 'u2', 'u3']);
  await seedDirectory(api, 'globex', ['g1']);
  await api.put('/api/v1/teams/t1', { tenantId: 'acme', name: 'AppSec', slackWebhookUrl: SLACK });
  await api.put('/api/v1/teams/t9', { tenantId: 'globex', name: 'Other', slackWebhookUrl: SLACK });
  await api.patch('/api/v1/me/preferences', { 'finding_created.email': false }, await env.userToken('u2', ['acme']));
  await env.db.$client`insert into push_subscriptions (user_id, endpoint, p256dh, auth) values ('u2', 'https://push.example/1', 'k', 'a'), ('u2', 'https://push.example/2', 'k', 'a')`;

  const rules = {
    email: { channel: 'email', severityFilter: 'medium', emailRecipients: ['ops@acme.example', 'U1@acme.example'] },
    webhook: { channel: 'webhook', severityFilter: 'high', webhookUrl: 'https://hooks.example.com/high' },
    criticalWebhook: { channel: 'webhook', severityFilter: 'critical', webhookUrl: 'https://hooks.example.com/critical' },
  };
  for (const [name, body] of Object.entries(rules)) {
    const res = await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'finding_created', ...body });
    if (res.status !== 201) throw new Error(`rule ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    ruleIds[name] = res.body.id;
  }
});
afterAll(async () => {
  if (queues) await closeQueues(queues);
  await env?.cleanup();
});

type DeliveryRow = { id: string; channel: string; destination: string; state: string; user_id: string | null; rule_id: string | null; team_id: string | null; last_error: string | null };

/** An event's deliveries as its timeline shows them, by channel and destination. */
async function deliveriesOf(eventId: string, tenantId = 'acme'): Promise<DeliveryRow[]> {
  return (await timelineOf(env.db, tenantId, eventId)).map((line) => ({
    id: line.id,
    channel: line.channel,
    destination: line.destination,
    state: line.state,
    user_id: line.userId,
    rule_id: line.ruleId,
    team_id: line.teamId,
    last_error: line.lastError,
  }));
}

/** The event's rows in the deliveries table itself. */
async function deliveryRowsOf(eventId: string) {
  return env.db.$client<{ channel: string; destination: string; state: string }[]>`
    select channel, destination, state from deliveries where event_id = ${eventId} order by channel, destination`;
}

/** Every job of a queue, whatever its state, as `{id, name, data}`. */
async function jobsOn(queue: Exclude<keyof Queues, 'route' | 'webhookGroup'>, eventId: string) {
  const jobs = await queues[queue].getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed']);
  return jobs.filter((j) => j.data.eventId === eventId).map((j) => ({ id: j.id, name: j.name, data: j.data }));
}

/** The jobs of the groups the event's deliveries are in, whatever their state, as `{id, name, data}`. */
async function groupJobsOf(eventId: string) {
  const groups = await env.db.$client<{ job_group: string }[]>`select distinct job_group from deliveries where event_id = ${eventId} and job_group is not null`;
  const jobs = await Promise.all(groups.map((row) => queues.webhookGroup.getJob(deliveryGroupJobId(row.job_group))));
  return jobs.flatMap((j) => (j ? [{ id: j.id, name: j.name, data: j.data }] : []));
}

const acme = (id: string) => ({ tenantId: 'acme', id });
const routeEvent = (id: string) => routeEvents(deps, [acme(id)]);

async function inboxRowsOf(eventId: string) {
  return env.db.$client<{ user_id: string }[]>`select user_id from notifications where event_id = ${eventId} order by user_id`;
}

async function publishAndWaitRouted(event: Record<string, unknown>): Promise<void> {
  const res = await api.post('/api/v1/events', { type: 'finding_created', tenantId: 'acme', data: { title: 'SQLi' }, ...event });
  expect(res.status).toBe(202);
  await eventually(async () => (await routedEventIds(env.db.$client, [event.id as string])).length === 1);
}

describe('routeEvent with rules, teams, preferences and push', () => {
  it('stores one delivery per channel and destination, records the skips, and writes a small fan-out’s inbox rows itself', async () => {
    await publishAndWaitRouted({ id: 'evt_high', severity: 'high', assigneeUserIds: ['u1', 'u2', 'g1', 'ghost'], recipientUserIds: ['u1'], assigneeTeamIds: ['t1', 't9'] });
    const rows = await deliveriesOf('evt_high');
    expect(rows.map(({ id: _id, ...rest }) => rest)).toEqual([
      // The user's own address and the same address listed on the rule make one email, kept as the user's.
      { channel: 'email', destination: 'ops@acme.example', state: 'pending', user_id: null, rule_id: ruleIds.email, team_id: null, last_error: null },
      { channel: 'email', destination: 'u1@acme.example', state: 'pending', user_id: 'u1', rule_id: ruleIds.email, team_id: null, last_error: null },
      { channel: 'inapp', destination: 'g1', state: 'skipped', user_id: 'g1', rule_id: null, team_id: null, last_error: 'not a user of tenant acme' },
      { channel: 'inapp', destination: 'ghost', state: 'skipped', user_id: 'ghost', rule_id: null, team_id: null, last_error: 'no such user' },
      // The router wrote these inbox rows and announced them in the same pass.
      { channel: 'inapp', destination: 'u1', state: 'sent', user_id: 'u1', rule_id: null, team_id: null, last_error: null },
      { channel: 'inapp', destination: 'u2', state: 'sent', user_id: 'u2', rule_id: null, team_id: null, last_error: null },
      // One push delivery per user, however many subscriptions: the push worker fans out to them.
      { channel: 'push', destination: 'u2', state: 'pending', user_id: 'u2', rule_id: null, team_id: null, last_error: null },
      { channel: 'slack', destination: 'team:t1', state: 'pending', user_id: null, rule_id: null, team_id: 't1', last_error: null },
      { channel: 'webhook', destination: `rule:${ruleIds.webhook}`, state: 'pending', user_id: null, rule_id: ruleIds.webhook, team_id: null, last_error: null },
    ]);
    // Those two in-app deliveries are their inbox rows: the deliveries table holds only the skips beside the other channels.
    expect((await deliveryRowsOf('evt_high')).filter((r) => r.channel === 'inapp')).toEqual([
      { channel: 'inapp', destination: 'g1', state: 'skipped' },
      { channel: 'inapp', destination: 'ghost', state: 'skipped' },
    ]);
  });

  it('enqueues each non-in-app delivery once on its channel’s queue, and no in-app job for a small fan-out', async () => {
    const rows = await deliveriesOf('evt_high');
    const job = (channel: string, destination: string) => {
      const row = rows.find((r) => r.channel === channel && r.destination === destination)!;
      return { id: deliveryJobId(row.id), name: channel, data: { deliveryId: row.id, eventId: 'evt_high' } };
    };
    const byId = (a: { id?: string }, b: { id?: string }) => (a.id! < b.id! ? -1 : 1);
    expect((await jobsOn('email', 'evt_high')).sort(byId)).toEqual([job('email', 'ops@acme.example'), job('email', 'u1@acme.example')].sort(byId));
    // A webhook's due delivery goes in its pass's group, whose job sends it (src/deliveries/deliveryGroups.ts).
    expect(await jobsOn('webhook', 'evt_high')).toEqual([]);
    const webhookRow = rows.find((r) => r.channel === 'webhook')!;
    const group = (await jobGroupOf(env.db.$client, webhookRow.id))!;
    expect(await groupJobsOf('evt_high')).toEqual([{ id: deliveryGroupJobId(group), name: 'webhook-group', data: { group } }]);
    expect(await jobsOn('chat', 'evt_high')).toEqual([job('slack', 'team:t1')]);
    expect(await jobsOn('push', 'evt_high')).toEqual([job('push', 'u2')]);
    expect(await jobsOn('inapp', 'evt_high')).toEqual([]);
    expect((await inboxRowsOf('evt_high')).map((r) => r.user_id)).toEqual(['u1', 'u2']);
  });

  it('adds nothing when the same event is routed again', async () => {
    const before = await deliveriesOf('evt_high');
    const inboxBefore = await inboxRowsOf('evt_high');
    const jobCounts = async () => [
      ...(await Promise.all((['inapp', 'email', 'webhook', 'chat', 'push'] as const).map(async (q) => (await jobsOn(q, 'evt_high')).length))),
      (await groupJobsOf('evt_high')).length,
    ];
    const jobsBefore = await jobCounts();
    await routeEvent('evt_high');
    await routeEvent('evt_high');
    expect(await deliveriesOf('evt_high')).toEqual(before);
    expect(await inboxRowsOf('evt_high')).toEqual(inboxBefore);
    expect(await jobCounts()).toEqual(jobsBefore);
  });

  it('does not enqueue a delivery again once it has left pending, even after its job is gone', async () => {
    const [webhook] = (await deliveriesOf('evt_high')).filter((r) => r.channel === 'webhook');
    await env.db.$client`update deliveries set state = 'sent' where id = ${webhook!.id}`;
    const [groupJob] = await groupJobsOf('evt_high');
    await (await queues.webhookGroup.getJob(groupJob!.id!))!.remove();
    await routeEvent('evt_high');
    expect(await jobsOn('webhook', 'evt_high')).toEqual([]);
    expect(await groupJobsOf('evt_high')).toEqual([]);
  });

  it('fires rules by minimum severity: a low event fires no rule, an event without severity fires all', async () => {
    await publishAndWaitRouted({ id: 'evt_low', severity: 'low', assigneeUserIds: ['u3'] });
    expect((await deliveriesOf('evt_low')).map((r) => `${r.channel} ${r.destination}`)).toEqual(['inapp u3']);
    expect(await jobsOn('email', 'evt_low')).toEqual([]);

    await publishAndWaitRouted({ id: 'evt_none', assigneeUserIds: ['u3'] });
    expect((await deliveriesOf('evt_none')).map((r) => `${r.channel} ${r.destination}`)).toEqual([
      'email ops@acme.example',
      'email u1@acme.example',
      'email u3@acme.example',
      'inapp u3',
      `webhook rule:${ruleIds.criticalWebhook}`,
      `webhook rule:${ruleIds.webhook}`,
    ].sort());
    // Both webhooks in the pass's one group of its priority.
    expect(await jobsOn('webhook', 'evt_none')).toHaveLength(0);
    expect(await groupJobsOf('evt_none')).toHaveLength(1);
  });

  it('stops firing a rule once it is disabled', async () => {
    await api.patch(`/api/v1/rules/${ruleIds.criticalWebhook}`, { enabled: false });
    await publishAndWaitRouted({ id: 'evt_urgent', severity: 'urgent', assigneeUserIds: [] });
    expect((await deliveriesOf('evt_urgent')).map((r) => r.destination)).toEqual(['ops@acme.example', 'u1@acme.example', `rule:${ruleIds.webhook}`]);
  });

  it('routes a group of events of different tenants, types and rules exactly as it routes each alone', async () => {
    await api.post('/api/v1/rules', { tenantId: 'globex', eventType: 'finding_created', channel: 'webhook', webhookUrl: 'https://hooks.example.com/globex' });
    const group = [
      { id: 'grp_acme_high', severity: 'high', assigneeUserIds: ['u1', 'ghost'], assigneeTeamIds: ['t1'] },
      { id: 'grp_acme_scan', type: 'scan_completed', assigneeUserIds: ['u2', 'u3'] },
      { id: 'grp_globex', tenantId: 'globex', assigneeUserIds: ['g1', 'u1'], assigneeTeamIds: ['t9', 't1'] },
    ];
    for (const event of group) await publishAndWaitRouted(event);
    const ids = group.map((e) => e.id);
    const alone = await Promise.all(group.map((e) => deliveriesOf(e.id, e.tenantId)));
    const inboxAlone = await Promise.all(ids.map(inboxRowsOf));
    expect(alone.map((rows) => rows.length)).toEqual([6, 3, 4]);

    // Forget the routing and route the three again as one group, an unknown id among them.
    await env.db.$client`delete from deliveries where event_id = any(${ids})`;
    await env.db.$client`delete from notifications where event_id = any(${ids})`;
    await env.db.$client`insert into event_outbox (tenant_id, id) select 'acme', id from unnest(${ids}::text[]) as id`;

    const refs = group.map((e) => ({ tenantId: e.tenantId ?? 'acme', id: e.id }));
    const plans = await routeEvents(deps, [refs[0]!, acme('grp_unknown'), refs[1]!, refs[2]!]);
    expect(plans.map((p) => p && p.deliveries.length)).toEqual([5, null, 3, 3]);
    const withoutIds = (rows: DeliveryRow[]) => rows.map(({ id: _id, ...rest }) => rest);
    for (const [i, { id, tenantId }] of group.entries()) {
      expect(withoutIds(await deliveriesOf(id, tenantId)), id).toEqual(withoutIds(alone[i]!));
      expect(await inboxRowsOf(id), id).toEqual(inboxAlone[i]);
    }
    expect(await routedEventIds(env.db.$client, ids)).toEqual([...ids].sort());
  });
});

describe('route jobs carry a group of events', () => {
  it('routes every event of one job, and running the same job again adds nothing', async () => {
    const ids = ['job_a', 'job_b', 'job_c'];
    // Stored without a route job (as if the intake's enqueue had failed), then handed over as one job.
    await env.db.$client`
      insert into events (id, tenant_id, type, envelope, occurred_at)
      select id, 'acme', 'finding_created',
             jsonb_build_object('id', id, 'type', 'finding_created', 'tenantId', 'acme', 'severity', null, 'actorId', null,
               'assigneeUserIds', jsonb_build_array('u1', 'u3'), 'assigneeTeamIds', '[]'::jsonb, 'recipientUserIds', '[]'::jsonb,
               'approval', null, 'data', jsonb_build_object('title', id), 'occurredAt', now()),
             now()
      from unnest(${ids}::text[]) as id`;
    await env.db.$client`insert into event_outbox (tenant_id, id) select 'acme', id from unnest(${ids}::text[]) as id`;
    const add = () => queues.route.add('route', { events: ids.map(acme) }, { jobId: routeJobId(ids.map(acme)) });
    await add();
    await eventually(async () => (await routedEventIds(env.db.$client, ids)).length === 3);
    const snapshot = async () => ({
      deliveries: await env.db.$client`select event_id, channel, destination, state from deliveries where event_id = any(${ids}) order by 1, 2, 3`,
      inbox: await env.db.$client`select event_id, user_id, seq from notifications where event_id = any(${ids}) order by 1, 2`,
    });
    const first = await snapshot();
    expect(first.inbox).toHaveLength(6);
    // The same group again, as a job (route jobs leave no trace once done, so it runs) and by hand: nothing changes.
    await add();
    await eventually(async () => {
      const counts = await queues.route.getJobCounts('waiting', 'active', 'delayed', 'completed');
      return Object.values(counts).every((n) => n === 0);
    });
    await routeEvents(deps, ids.map(acme));
    expect(await snapshot()).toEqual(first);
  });

  it('announces a pass in one message per channel: the tenant’s events in order, each person’s rows and count', async () => {
    const ids = ['msg_a', 'msg_b', 'msg_c'];
    await storeUnroutedEvents(env.db.$client, ids.map((id) => ({ id, assignees: ['u1', 'u3'] })));
    const subscriber = env.redis.duplicate();
    const messages: { channel: string; message: string }[] = [];
    subscriber.on('message', (channel: string, message: string) => messages.push({ channel, message }));
    const tenant = tenantChannel(env.config.REDIS_PREFIX, 'acme');
    const u1 = userChannel(env.config.REDIS_PREFIX, 'u1');
    await subscriber.subscribe(tenant, u1);
    try {
      await routeEvents(deps, ids.map(acme));
      // Published in one pipeline before routeEvents returned; a marker sent after it arrives after all of it.
      await env.redis.publish(u1, 'marker');
      await eventually(async () => messages.some((m) => m.message === 'marker'));
      const ours = messages.filter((m) => m.message !== 'marker');
      const onTenant = ours.filter((m) => m.channel === tenant).map((m) => parseFrameMessage(m.message)!);
      expect(onTenant).toHaveLength(1);
      expect(onTenant[0]!.map((f) => (f.type === 'event' ? f.data.id : f.type))).toEqual(ids);
      const onU1 = ours.filter((m) => m.channel === u1).map((m) => parseFrameMessage(m.message)!);
      expect(onU1).toHaveLength(1);
      expect(onU1[0]!.map((f) => f.type)).toEqual(['notification', 'notification', 'notification', 'unread_count']);
      expect(onU1[0]!.map((f) => (f.type === 'notification' ? f.data.eventId : null)).slice(0, 3)).toEqual(ids);
    } finally {
      subscriber.disconnect();
    }
  });

  it('announces a large pass’s rows only to the people holding a stream, a small one’s to all, and every event to the tenant', async () => {
    const large = Array.from({ length: ASK_WHO_LISTENS_ABOVE / 2 + 1 }, (_, i) => `heard_${i}`);
    const small = ['heard_small_a', 'heard_small_b'];
    await storeUnroutedEvents(env.db.$client, [...large, ...small].map((id) => ({ id, assignees: ['u1', 'u3'] })));
    const subscriber = env.redis.duplicate();
    const watcher = env.redis.duplicate();
    const received: { channel: string; frames: LiveFrame[] }[] = [];
    /** What was published on any user channel, as `<user> <type>`: seen through a pattern, which holds no stream. */
    const published: string[] = [];
    subscriber.on('message', (channel: string, message: string) => received.push({ channel, frames: parseFrameMessage(message) ?? [] }));
    watcher.on('pmessage', (_pattern: string, channel: string, message: string) => {
      for (const frame of parseFrameMessage(message) ?? []) published.push(`${channel.split(':').pop()} ${frame.type}`);
    });
    const tenant = tenantChannel(env.config.REDIS_PREFIX, 'acme');
    const u1 = userChannel(env.config.REDIS_PREFIX, 'u1');
    await subscriber.subscribe(tenant, u1);
    await watcher.psubscribe(userChannel(env.config.REDIS_PREFIX, '*'));
    /** Waits for a marker published after everything so far, on the connection the passes publish on. */
    const fence = async (name: string) => {
      await env.redis.publish(u1, JSON.stringify([{ type: name, data: {} }]));
      await eventually(async () => published.includes(`u1 ${name}`) && received.some((m) => m.frames[0]?.type === name));
    };
    try {
      await routeEvents(deps, large.map(acme));
      await fence('fence_large');
      const ofType = (type: string) => (line: string) => line.endsWith(` ${type}`);
      // u3 holds no stream: none of its rows, nor its count, was built or published.
      expect(published.filter((line) => line.startsWith('u3 '))).toEqual([]);
      expect(published.filter((line) => line.startsWith('u1 ') && ofType('notification')(line))).toHaveLength(large.length);
      const onTenant = received.filter((m) => m.channel === tenant).flatMap((m) => m.frames);
      expect(onTenant.map((f) => (f.type === 'event' ? f.data.id : f.type))).toEqual(large);
      expect(received.filter((m) => m.channel === u1).flatMap((m) => m.frames).at(-2)?.type).toBe('unread_count');

      // Four rows: cheaper to publish than to ask, so u3's frames go out though nobody hears them.
      await routeEvents(deps, small.map(acme));
      await fence('fence_small');
      expect(published.filter((line) => line.startsWith('u3 '))).toEqual(['u3 notification', 'u3 notification', 'u3 unread_count']);
    } finally {
      subscriber.disconnect();
      watcher.disconnect();
    }
  });

  it('announces again the rows an earlier run wrote but crashed before announcing, and nothing once the event is routed', async () => {
    await env.db.$client`
      insert into events (id, tenant_id, type, envelope, occurred_at)
      values ('crash_a', 'acme', 'finding_created',
              jsonb_build_object('id', 'crash_a', 'type', 'finding_created', 'tenantId', 'acme', 'severity', null, 'actorId', null,
                'assigneeUserIds', jsonb_build_array('u1', 'u3'), 'assigneeTeamIds', '[]'::jsonb, 'recipientUserIds', '[]'::jsonb,
                'approval', null, 'data', jsonb_build_object('title', 'crash_a'), 'occurredAt', now()),
              now())`;
    await env.db.$client`insert into event_outbox (tenant_id, id) values ('acme', 'crash_a')`;
    // The first run writes the rows, then dies where its frames would go out: the event stays unrouted.
    const crashing = { ...deps, frames: { ...deps.frames, publish: async () => Promise.reject(new Error('router killed')) } };
    await expect(routeEvents(crashing, [acme('crash_a')])).rejects.toThrow('router killed');
    const written = await env.db.$client<{ user_id: string; seq: string }[]>`select user_id, seq::text from notifications where event_id = 'crash_a' order by user_id`;
    expect(written.map((r) => r.user_id)).toEqual(['u1', 'u3']);
    expect(await routedEventIds(env.db.$client, ['crash_a'])).toEqual([]);

    const subscriber = env.redis.duplicate();
    const channel = userChannel(env.config.REDIS_PREFIX, 'u1');
    const messages: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => messages.push(message));
    await subscriber.subscribe(channel);
    /** Everything published to u1 up to now: a marker published last arrives after all of it. */
    const framesSoFar = async () => {
      const marker = `marker_${messages.length}_${Date.now()}`;
      await env.redis.publish(channel, marker);
      await eventually(async () => messages.includes(marker));
      const upTo = messages.splice(0, messages.indexOf(marker) + 1).slice(0, -1);
      return upTo.flatMap((m) => parseFrameMessage(m) ?? []).filter((f) => f.type === 'notification');
    };
    try {
      // The retry writes nothing new but announces u1's row, at the cursor it was written with.
      await routeEvents(deps, [acme('crash_a')]);
      const replayed = await framesSoFar();
      expect(replayed.map((f) => (f.type === 'notification' ? f.cursor : null))).toEqual([written[0]!.seq]);
      expect(await routedEventIds(env.db.$client, ['crash_a'])).toEqual(['crash_a']);
      // Routed now: a further run announces nothing.
      await routeEvents(deps, [acme('crash_a')]);
      expect(await framesSoFar()).toEqual([]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('routes the rest of a group when one of its events cannot be routed', async () => {
    const good = ['poison_ok_1', 'poison_ok_2'];
    // A row no intake would store (its assignee list is not a list), as if written by an older version: routing it throws.
    const rows = [{ id: good[0]!, assignees: ['u1'] }, { id: 'poison_bad', assignees: 42 }, { id: good[1]!, assignees: ['u2'] }];
    await storeUnroutedEvents(env.db.$client, rows);
    const ids = rows.map((e) => e.id);
    await queues.route.add('route', { events: ids.map(acme) }, { jobId: routeJobId(ids.map(acme)), attempts: 1 });
    // Read after it failed: a job read while it ran has no failedReason, however its state is asked for later.
    const job = await eventually(async () => {
      const found = await queues.route.getJob(routeJobId(ids.map(acme)));
      return found?.failedReason !== undefined && (await found.isFailed()) ? found : null;
    });
    expect(job.failedReason).toMatch(/not iterable|42/);
    // A job ends once its frames are out; the marks follow within the router's linger.
    const routed = await eventually(async () => {
      const routedIds = await routedEventIds(env.db.$client, ids);
      return routedIds.length >= good.length ? routedIds : null;
    });
    expect(routed).toEqual([...good].sort());
    expect((await inboxRowsOf(good[0]!)).map((r) => r.user_id)).toEqual(['u1']);
    expect((await inboxRowsOf(good[1]!)).map((r) => r.user_id)).toEqual(['u2']);
  });

  it('hands a fan-out larger than the router writes itself to the in-app queue in sorted batches', async () => {
    const many = Array.from({ length: INLINE_INAPP_MAX + 5 }, (_, i) => `fan${String(i).padStart(4, '0')}`);
    await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${many}::text[]) as id`;
    await publishAndWaitRouted({ id: 'evt_fanout', assigneeUserIds: [...many].reverse() });
    const batches = await jobsOn('inapp', 'evt_fanout');
    // Each user's priority and rule travel with the batch, so the worker need not read them back.
    const first = many.slice(0, INAPP_BATCH_SIZE);
    const recipients = { userIds: first, priorities: first.map(() => 'normal'), ruleIds: first.map(() => null) };
    expect(batches.map((j) => j.data)).toEqual([{ tenantId: 'acme', eventId: 'evt_fanout', batch: 0, ...recipients }]);
    // No in-app worker runs in this file: the people wait in the recorded batch, unwritten, with no delivery row each.
    expect(await inboxRowsOf('evt_fanout')).toEqual([]);
    expect(await env.db.$client`select 1 from deliveries where event_id = 'evt_fanout' and channel = 'inapp'`).toHaveLength(0);
    const recorded = await env.db.$client`select batch, priority, recipients, written_at from inapp_batches where event_id = 'evt_fanout'`;
    expect(recorded).toEqual([{ batch: 0, priority: 'normal', recipients, written_at: null }]);
    const timeline = await timelineOf(env.db, 'acme', 'evt_fanout');
    expect(timeline.filter((line) => line.channel === 'inapp').map((line) => [line.destination, line.state])).toEqual(first.map((userId) => [userId, 'pending']));

    // Routing it again (a retry, the sweeper) records and enqueues nothing more.
    await routeEvents(deps, [acme('evt_fanout')]);
    expect(await env.db.$client`select 1 from inapp_batches where event_id = 'evt_fanout'`).toHaveLength(1);
    expect(await jobsOn('inapp', 'evt_fanout')).toHaveLength(1);
  });
});

describe('a routing pass on the wire', () => {
  it('runs its statements as prepared statements, the write of the inbox rows and deliveries among them', async () => {
    // One connection, so the statements it prepared are the ones its own session lists. A
    // statement run unprepared costs Postgres a parse and plan and the router two round trips.
    const db = createDb(env.config.DATABASE_URL, { max: 1 });
    try {
      const res = await api.post('/api/v1/events', { id: 'evt_wire', type: 'finding_created', tenantId: 'acme', severity: 'critical', assigneeUserIds: ['u1', 'u3'], data: { title: 'XSS' } });
      expect(res.status).toBe(202);
      await routeEvents({ ...deps, db, rules: createRuleCache(db) }, [acme('evt_wire')]);
      expect((await inboxRowsOf('evt_wire')).map((r) => r.user_id)).toEqual(['u1', 'u3']);
      const prepared = await db.$client<{ statement: string }[]>`select statement from pg_prepared_statements where not from_sql`;
      const write = prepared.filter((p) => p.statement.includes('inbox_pairs') && p.statement.includes('insert into deliveries'));
      expect(write).toHaveLength(1);
    } finally {
      await closeDb(db);
    }
  });

  it('runs a small pass’s statements on plans made once per connection, and a larger one’s on plans made for its arrays', async () => {
    // One connection each, so each session's prepared statements are the ones it ran.
    const db = createDb(env.config.DATABASE_URL, { max: 1 });
    const genericPlanDb = createDb(env.config.DATABASE_URL, { max: 1, settings: GENERIC_PLAN_SETTINGS });
    /** How often the session planned the routing write and the directory read generically and for their arrays (the patterns are parameters, so this query is not among them). */
    const plansOf = async (session: typeof db) => {
      const [plans] = await session.$client<{ write: string; directory: string }[]>`
        select
          (select format('%s generic, %s custom', coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)) from pg_prepared_statements
           where not from_sql and statement like ${'%insert into deliveries%'}) as write,
          (select format('%s generic, %s custom', coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)) from pg_prepared_statements
           where not from_sql and statement like ${"%'hasPushSubscription'%"}) as directory`;
      return plans;
    };
    try {
      const route = (id: string) => routeEvents({ ...deps, db, genericPlanDb, rules: createRuleCache(db) }, [acme(id)]);
      const small = { id: 'evt_plan_small', type: 'finding_created', tenantId: 'acme', severity: 'low', assigneeUserIds: ['u1', 'u3'], data: {} };
      expect((await api.post('/api/v1/events', small)).status).toBe(202);
      await route(small.id);
      expect((await inboxRowsOf(small.id)).map((r) => r.user_id)).toEqual(['u1', 'u3']);
      expect(await plansOf(genericPlanDb)).toEqual({ write: '1 generic, 0 custom', directory: '1 generic, 0 custom' });
      expect(await plansOf(db)).toEqual({ write: '0 generic, 0 custom', directory: '0 generic, 0 custom' });

      // One more event than a generic plan is trusted with, each to a person of its own: the directory read's and the write's arrays are too long.
      const many = Array.from({ length: GENERIC_PLAN_MAX_ELEMENTS + 1 }, (_, i) => `plan_u${i}`);
      await env.db.$client`insert into users (id, email, name, tenant_ids) select u, u || '@acme.example', u, array['acme'] from unnest(${many}::text[]) as u`;
      const large = many.map((userId) => ({ ...small, id: `evt_plan_${userId}`, assigneeUserIds: [userId] }));
      expect((await api.post('/api/v1/events/batch', { events: large })).status).toBe(200);
      await routeEvents({ ...deps, db, genericPlanDb, rules: createRuleCache(db) }, large.map((event) => acme(event.id)));
      const [written] = await env.db.$client<{ count: number }[]>`select count(*)::int from notifications where event_id like 'evt_plan_plan_u%'`;
      expect(written!.count).toBe(many.length);
      expect(await plansOf(db)).toEqual({ write: '0 generic, 1 custom', directory: '0 generic, 1 custom' });
      expect(await plansOf(genericPlanDb)).toEqual({ write: '1 generic, 0 custom', directory: '1 generic, 0 custom' });
    } finally {
      await closeDb(genericPlanDb);
      await closeDb(db);
    }
  });
});
