import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Web } from '../../src/http/web.ts';
import { startWebhook } from '../../workers/roles/webhook.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { startLocalServer, type LocalServer } from '../outbound/localServer.ts';
import { waitUntil } from './harness/processes.ts';
import { publishAll, type EventSpec } from './harness/publish.ts';
import { checkInbox, countCopies, openFaultWorld, report, settle, tallyCopies, untilNonePending, type FaultWorld } from './harness/scenario.ts';
import { fenceStreams, openFrameTimer, type FrameTimer } from './harness/sseClients.ts';

/**
 * Redis flushed after 500 events were accepted: everything Redis held — route jobs of events
 * not yet routed, in-app and webhook jobs of events already routed — is gone, and still every
 * event reaches every inbox and its webhook, because Postgres knows what is owed. Nothing dies
 * mid-send here, so each live frame and each webhook must arrive exactly once: re-routing what
 * Redis lost must not send again what was already sent.
 */

const EVENTS = 500;
const USERS = Array.from({ length: 10 }, (_, i) => `u${i}`);

let world: FaultWorld;
let api: ApiClient;
let web: Web;
let receiver: LocalServer;
const readers: FrameTimer[] = [];

beforeAll(async () => {
  receiver = await startLocalServer((_req, res) => void res.writeHead(200).end('ok'));
  world = await openFaultWorld({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', OUTBOX_SWEEP_AFTER_SECONDS: '1' });
  web = await world.env.startWeb();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', USERS);
  const rule = await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'finding_created', channel: 'webhook', severityFilter: '', webhookUrl: `${receiver.origin}/hook` });
  if (rule.status !== 201) throw new Error(`webhook rule: ${rule.status} ${JSON.stringify(rule.body)}`);
});

afterAll(async () => {
  await Promise.all(readers.map((r) => r.close()));
  await world?.close();
  await receiver?.close();
});

it('Redis flushed after 500 accepted events: all 500 still reach every inbox and their webhook', async () => {
  const { env, services } = world;
  const events: EventSpec[] = Array.from({ length: EVENTS }, (_, i) => ({
    id: `flush_${i}`,
    tenantId: 'acme',
    type: 'finding_created',
    assigneeUserIds: [USERS[i % 10]!, USERS[(i + 5) % 10]!],
    data: { title: `Finding ${i}` },
  }));
  const expectedInbox = events.flatMap((e) => e.assigneeUserIds.map((userId) => ({ eventId: e.id, userId })));
  // Every user's live stream, open throughout: each notification must come over it exactly once.
  for (const userId of USERS) readers.push(await openFrameTimer(web.url, await env.userToken(userId, ['acme'])));

  // The first half is routed, its in-app and webhook jobs wait in Redis (those workers are behind);
  // the second half is accepted while the router is away, its route jobs wait in Redis.
  const router = await env.startRouter();
  await publishAll(api, events.slice(0, EVENTS / 2));
  await waitUntil(
    async () => (await routedEventIds(env.db.$client)).length === EVENTS / 2,
    30_000,
    'the first half to be routed',
  );
  await env.stop(router);
  await publishAll(api, events.slice(EVENTS / 2));
  const [queued] = await env.db.$client`select
    (select count(*)::int from event_outbox) as unrouted,
    (select count(*)::int from deliveries where state = 'pending') as "pendingDeliveries"`;

  await services.flushRedis();
  const flushedAt = Date.now();
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startWebhook);

  const inbox = await settle(() => checkInbox(env, expectedInbox), (c) => c.lost === 0, 60_000);
  const hooked = () => new Set(receiver.requests.map((r) => (JSON.parse(r.body) as { id: string }).id));
  const webhooks = await settle(async () => hooked(), (s) => s.size === EVENTS, 30_000);
  const recoveredMs = Date.now() - flushedAt;
  const webhooksLost = events.filter((e) => !webhooks.has(e.id)).length;

  // Once no delivery is pending nothing can be sent again; the fence makes the streams' counts final.
  await untilNonePending(env, 'webhook', 30_000);
  await untilNonePending(env, 'inapp', 30_000);
  await fenceStreams(env, 'acme', readers);
  const frameCopies = new Map(readers.flatMap((reader, i) => [...reader.copies].map(([eventId, n]) => [`${eventId} ${USERS[i]}`, n] as const)));
  const frames = tallyCopies(expectedInbox.map((p) => `${p.eventId} ${p.userId}`), frameCopies);
  // A webhook is one post per event, under its delivery's id: counted by webhook-id and by event.
  const webhookRows = await env.db.$client<{ id: string; event_id: string }[]>`select id, event_id from deliveries where channel = 'webhook'`;
  const posts = receiver.requests.map((r) => ({ webhookId: String(r.headers['webhook-id']), eventId: (JSON.parse(r.body) as { id: string }).id }));
  const byWebhookId = tallyCopies(webhookRows.map((row) => row.id), countCopies(posts.map((p) => p.webhookId)));
  const byEvent = tallyCopies(events.map((e) => e.id), countCopies(posts.map((p) => p.eventId)));

  report('redis-flush', {
    accepted: EVENTS,
    'flushed with unrouted': queued!.unrouted,
    'pending deliveries': queued!.pendingDeliveries,
    delivered: `${inbox.delivered}/${inbox.expected} inbox, ${webhooks.size}/${EVENTS} webhooks`,
    lost: inbox.lost + webhooksLost + frames.lost,
    'sent twice': `${frames.repeated} frames, ${byWebhookId.repeated} webhooks`,
    'recovered in': `${(recoveredMs / 1000).toFixed(1)} s`,
    'streams resumed after falling behind': readers.reduce((n, r) => n + r.resumes, 0),
  });
  expect(queued!.unrouted).toBe(EVENTS / 2);
  expect(queued!.pendingDeliveries).toBeGreaterThan(0);
  expect(inbox.lostSample, 'inbox rows lost').toEqual([]);
  expect(webhooksLost, 'events whose webhook never arrived').toBe(0);
  expect(frames, 'notification frames per (event, user)').toMatchObject({ lost: 0, repeated: 0, unexpected: 0 });
  expect(webhookRows).toHaveLength(EVENTS);
  expect(byWebhookId, 'webhook posts per webhook-id').toMatchObject({ lost: 0, repeated: 0, unexpected: 0 });
  expect(byEvent, 'webhook posts per event').toMatchObject({ lost: 0, repeated: 0, unexpected: 0 });
}, 150_000);
