import { afterAll, beforeAll, expect, it } from 'vitest';
import { INLINE_INAPP_MAX } from '../../src/queues/catalog.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { waitUntil } from './harness/processes.ts';
import { publishAll, type EventSpec } from './harness/publish.ts';
import { startRedisCluster, type RedisCluster } from './harness/redisCluster.ts';
import { checkInbox, countCopies, report, settle, tallyCopies } from './harness/scenario.ts';
import { openLightStream, openResumingStream, type LightStream } from './harness/sseClients.ts';
import { spawnApi, spawnWorker, type WorkerProcess } from './harness/workerProcess.ts';

/**
 * SPEC §8.1 on a real three-master Redis Cluster: two `web` processes and two of each of the
 * router and the in-app worker, every one its own Node process. Every user's stream is open on
 * web A while events go in through A and B alike; each must reach its stream exactly once, in the
 * inbox's order. Then kill -9 of one router and one in-app worker mid-run: the survivors take
 * over, no inbox row is lost, and a stream resumed from its last frame gets the rest once each.
 */

const USERS = Array.from({ length: 10 }, (_, i) => `u${i}`);
const CROWD = Array.from({ length: INLINE_INAPP_MAX + 20 }, (_, i) => `crowd${String(i).padStart(3, '0')}`);
/** Most events reach one user, whose row the router writes itself; every 25th also a crowd, whose rows the in-app workers write. */
const recipientsOf = (i: number) => (i % 25 === 0 ? [USERS[i % 10]!, ...CROWD] : [USERS[i % 10]!]);
const eventsOf = (prefix: string, n: number): EventSpec[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: recipientsOf(i), data: { title: `${prefix} ${i}` } }));

let cluster: RedisCluster;
let env: TestEnv;
const processes: WorkerProcess[] = [];
const streams = new Map<string, LightStream & { reconnects(): number }>();
let webA: ReturnType<typeof spawnApi>;
let webB: ReturnType<typeof spawnApi>;
let apiA: ApiClient;
let apiB: ApiClient;
let routers: WorkerProcess[];
let inapps: WorkerProcess[];

beforeAll(async () => {
  cluster = await startRedisCluster();
  env = await createTestEnv({ REDIS_CLUSTER_NODES: cluster.nodes, OUTBOX_SWEEP_AFTER_SECONDS: '5' });
  webA = spawnApi(env.config);
  webB = spawnApi(env.config);
  routers = [spawnWorker('router', env.config), spawnWorker('router', env.config)];
  inapps = [spawnWorker('inapp', env.config), spawnWorker('inapp', env.config)];
  processes.push(webA, webB, ...routers, ...inapps);
  await Promise.all(processes.map((p) => p.started()));
  apiA = apiClient(webA.url());
  apiB = apiClient(webB.url());
  await seedDirectory(apiA, 'acme', USERS);
  await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${CROWD}::text[]) as id`;
  // Browser-like: a stream the server ends because it fell behind comes back from its last frame.
  for (const userId of USERS) streams.set(userId, await openResumingStream(webA.url(), await env.userToken(userId, ['acme'])));
}, 120_000);

afterAll(async () => {
  for (const stream of streams.values()) stream.close();
  await Promise.allSettled(processes.map((p) => p.kill9()));
  // The cluster's servers stop even when the cleanup finds a leak (and throws it).
  try {
    await env?.cleanup();
  } finally {
    await cluster?.close();
  }
});

/** Each user's notification event ids in inbox (seq) order. */
async function inboxOrder(): Promise<Map<string, string[]>> {
  const rows = await env.db.$client<{ user_id: string; ids: string[] }[]>`
    select user_id, array_agg(event_id order by seq) as ids from notifications where user_id = any(${USERS}) group by user_id`;
  return new Map(rows.map((r) => [r.user_id, r.ids]));
}

/** Publishes through both instances at once, alternating batches of 20. */
async function publishThroughBoth(events: EventSpec[]): Promise<void> {
  await Promise.all([
    publishAll(apiA, events.filter((_, i) => Math.floor(i / 20) % 2 === 0), 20, 2),
    publishAll(apiB, events.filter((_, i) => Math.floor(i / 20) % 2 === 1), 20, 2),
  ]);
}

it('delivers what goes in through either instance to streams on web A exactly once, in inbox order', async () => {
  const events = eventsOf('both', 400);
  await publishThroughBoth(events);
  const expected = events.flatMap((e) => e.assigneeUserIds.map((userId) => ({ eventId: e.id, userId })));
  const inbox = await settle(() => checkInbox(env, expected), (c) => c.lost === 0, 60_000);
  expect(inbox.lostSample).toEqual([]);
  const order = await inboxOrder();
  // Frames follow the commits; give the last ones a moment to cross pub/sub.
  await settle(
    async () => USERS.every((u) => streams.get(u)!.eventIds.length >= (order.get(u)?.length ?? 0)),
    (done) => done,
    10_000,
  );
  const copies = tallyCopies(
    expected.filter((p) => USERS.includes(p.userId)).map((p) => `${p.eventId}→${p.userId}`),
    countCopies(USERS.flatMap((u) => streams.get(u)!.eventIds.map((id) => `${id}→${u}`))),
  );
  const reconnects = [...streams.values()].reduce((n, s) => n + s.reconnects(), 0);
  report('scale-out two instances', { events: events.length, 'inbox rows': `${inbox.delivered}/${inbox.expected}`, 'frames lost': copies.lost, repeated: copies.repeated, 'streams resumed after falling behind': reconnects });
  // So a failure explains itself: what the processes warned about.
  if (copies.lost > 0) for (const p of processes) console.log(p.output().split('\n').filter((line) => /"level":(40|50)/.test(line)).slice(-10).join('\n'));
  expect(copies.sample).toEqual([]);
  for (const userId of USERS) expect(streams.get(userId)!.eventIds, `stream of ${userId}`).toEqual(order.get(userId));
}, 120_000);

it('loses nothing when one router and one in-app worker are killed -9 mid-run', async () => {
  const framesBefore = new Map(USERS.map((u) => [u, streams.get(u)!.eventIds.length]));
  const events = eventsOf('kill', 800);
  const publishing = publishThroughBoth(events);
  const ids = events.map((e) => e.id);
  await waitUntil(
    async () => (await routedEventIds(env.db.$client, ids)).length >= 150,
    60_000,
    'the routers to be partway through',
    20,
  );
  await Promise.all([routers[0]!.kill9(), inapps[0]!.kill9()]);
  const atKill = { n: (await routedEventIds(env.db.$client, ids)).length };
  await publishing;

  const expected = events.flatMap((e) => e.assigneeUserIds.map((userId) => ({ eventId: e.id, userId })));
  // A job cut off by the kill is taken over by the survivor once its lock expires (about 30 s).
  const inbox = await settle(() => checkInbox(env, expected), (c) => c.lost === 0, 120_000);
  const order = await inboxOrder();

  // A frame whose sender died between commit and publish is not on the live stream; the stream
  // resumed from its last frame replays it. Live plus replay must be the inbox, once each, in order.
  let replayed = 0;
  for (const userId of USERS) {
    const live = streams.get(userId)!;
    // Its own reconnects stop here: the stream resumed below carries on from its last frame.
    live.close();
    const resumed = await openLightStream(webB.url(), await env.userToken(userId, ['acme']), live.lastFrameId());
    await settle(async () => live.eventIds.length + resumed.eventIds.length >= order.get(userId)!.length, (done) => done, 10_000);
    resumed.close();
    replayed += resumed.eventIds.length;
    const seen = [...live.eventIds.slice(framesBefore.get(userId)), ...resumed.eventIds];
    expect(seen, `stream of ${userId}`).toEqual(order.get(userId)!.slice(framesBefore.get(userId)));
  }
  report('scale-out kill -9', {
    events: events.length,
    'routed at kill': `${atKill!.n}/${events.length}`,
    'inbox rows': `${inbox.delivered}/${inbox.expected}`,
    lost: inbox.lost,
    'frames replayed on resume': replayed,
  });
  expect(inbox.lostSample).toEqual([]);
  expect(atKill!.n).toBeLessThan(events.length);
}, 180_000);
