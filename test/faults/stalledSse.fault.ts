import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Web } from '../../src/http/web.ts';
import { userChannel } from '../../src/realtime/liveFrames.ts';
import { createRedis } from '../../src/redis.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { openFrameTimer, openStalledStream } from './harness/sseClients.ts';
import { openFaultWorld, report, settle, sleep, type FaultWorld } from './harness/scenario.ts';

/**
 * A stalled SSE client (it never reads): the other clients' frames arrive on time, and the
 * API process's memory stays bounded — the stalled connection's backlog is capped and its
 * frames are dropped, however much more is published for it.
 */

const GOOD = ['g0', 'g1', 'g2'];
const BLOB = 'x'.repeat(48 * 1024);
const PER_PHASE = 200;
// From Redis pub/sub to a reading client's socket, the part a stalled neighbour could slow down.
const ON_TIME_MS = 1_000;
// What the API process may keep for the stalled client after a phase of ~20 MB of frames for it.
const HEAP_GROWTH_LIMIT = 8 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let world: FaultWorld;
let web: Web;
let api: ApiClient;

beforeAll(async () => {
  world = await openFaultWorld({ OUTBOX_SWEEP_AFTER_SECONDS: '2' });
  web = await world.env.startWeb();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['stalled', ...GOOD]);
  await world.env.startRouter();
  await world.env.startInapp();
});

afterAll(() => world?.close());

async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
}

it('a stalled SSE client: others get their frames on time, memory stays bounded', async () => {
  const { env } = world;
  const clients = await Promise.all(GOOD.map(async (userId) => openFrameTimer(web.url, await env.userToken(userId, ['acme']))));
  // When each reader's notification frame left Redis pub/sub, seen by a subscriber of our own.
  const fromPubSub = new Map<string, number>();
  const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
  subscriber.on('message', (channel: string, message: string) => {
    // One message per publish and user, carrying the user's new rows and their count.
    for (const frame of JSON.parse(message) as { type: string; data: { eventId?: string } }[]) {
      if (frame.type === 'notification') fromPubSub.set(`${channel}\u0000${frame.data.eventId}`, performance.now());
    }
  });
  await subscriber.subscribe(...GOOD.map((userId) => userChannel(env.config.REDIS_PREFIX, userId)));
  const published = new Map<string, number>();
  let n = 0;
  /** Publishes one at a time (each a ~48 KB event: ~100 KB of frames for every stream), pacing like a busy service. */
  async function publishPhase(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const id = `sse_${n++}`;
      published.set(id, performance.now());
      const res = await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['stalled', ...GOOD], data: { title: id, blob: BLOB } });
      if (res.status !== 202) throw new Error(`publish ${id}: ${res.status}`);
      await sleep(5);
    }
  }
  const allArrived = () => clients.every((c) => [...published.keys()].every((id) => c.arrivals.has(id)));
  /** Publish → frame at the client, end to end (routing and the in-app worker included). */
  const latencies = (ids: string[]) =>
    clients.flatMap((c) => ids.filter((id) => c.arrivals.has(id)).map((id) => c.arrivals.get(id)! - published.get(id)!)).sort((a, b) => a - b);
  /** Pub/sub → frame at the client: the live-stream hub's own delay. */
  const hubDelays = (ids: string[]) =>
    clients
      .flatMap((c, i) =>
        ids.map((id) => {
          const sent = fromPubSub.get(`${userChannel(env.config.REDIS_PREFIX, GOOD[i]!)}\u0000${id}`);
          const got = c.arrivals.get(id);
          return sent !== undefined && got !== undefined ? Math.max(0, got - sent) : Infinity;
        }),
      )
      .sort((a, b) => a - b);

  // Baseline: nobody stalled yet.
  await publishPhase(30);
  await settle(async () => allArrived(), Boolean, 30_000);
  const baseline = latencies([...published.keys()]);

  const stalled = await openStalledStream(web.url, await env.userToken('stalled', ['acme']));
  const stalledFrom = n;
  await publishPhase(PER_PHASE);
  await settle(async () => allArrived(), Boolean, 30_000);
  const droppedAfterFirst = web.hub.stats().droppedFrames;
  const heapFirst = await heapAfterGc();

  await publishPhase(PER_PHASE);
  await settle(async () => allArrived(), Boolean, 30_000);
  const heapSecond = await heapAfterGc();
  const dropped = web.hub.stats().droppedFrames;

  const withStalled = latencies([...published.keys()].slice(stalledFrom));
  const hub = hubDelays([...published.keys()].slice(stalledFrom));
  const missed = clients.reduce((sum, c) => sum + [...published.keys()].filter((id) => !c.arrivals.has(id)).length, 0);
  const pct = (xs: number[], p: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN);
  const late = hub.filter((ms) => ms > ON_TIME_MS).length;
  const growth = heapSecond - heapFirst;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

  report('stalled-sse', {
    'frames to readers': `${withStalled.length + baseline.length} (${GOOD.length} clients × ${n} events)`,
    'hub delay p50/p99/max': `${pct(hub, 0.5)}/${pct(hub, 0.99)}/${Math.round(hub.at(-1) ?? NaN)} ms`,
    'publish-to-frame p50/p99': `${pct(withStalled, 0.5)}/${pct(withStalled, 0.99)} ms (before the stall ${pct(baseline, 0.5)}/${pct(baseline, 0.99)} ms)`,
    late,
    lost: missed,
    'stalled client dropped': `${dropped} frames`,
    'memory growth over the 2nd ~20 MB phase': mb(growth),
    leaked: growth > HEAP_GROWTH_LIMIT ? mb(growth) : 0,
  });
  stalled.close();
  subscriber.disconnect();
  await Promise.all(clients.map((c) => c.close()));

  expect(missed, 'frames the reading clients never got').toBe(0);
  expect(late, `frames that took the hub over ${ON_TIME_MS} ms`).toBe(0);
  // The stall really filled every buffer on the way: the hub is dropping the stalled client's frames.
  expect(droppedAfterFirst, 'frames dropped for the stalled client after the first phase').toBeGreaterThan(0);
  expect(dropped).toBeGreaterThan(droppedAfterFirst);
  expect(growth, 'heap growth while the stalled client was sent another ~20 MB').toBeLessThan(HEAP_GROWTH_LIMIT);
}, 150_000);
