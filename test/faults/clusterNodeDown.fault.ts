import { afterAll, beforeAll, expect, it } from 'vitest';
import { slotPrefix } from '../../src/redis.ts';
import { apiClient, seedDirectory } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import { startRedisCluster, type RedisCluster } from './harness/redisCluster.ts';
import { checkInbox, report, settle } from './harness/scenario.ts';

/**
 * SPEC §8.1 with one Redis Cluster master stopped: /readyz says Redis is not ready — on an API
 * instance that was running and on one that starts while the master is away — and once it is
 * back (empty: no persistence), every process recovers and events flow to the inbox again.
 * The master stopped is the one holding the queues' hash slot, the worst one to lose.
 */

let cluster: RedisCluster;
let env: TestEnv;

beforeAll(async () => {
  cluster = await startRedisCluster();
  env = await createTestEnv({ REDIS_CLUSTER_NODES: cluster.nodes, OUTBOX_SWEEP_AFTER_SECONDS: '2' });
}, 90_000);

afterAll(async () => {
  // The cluster's servers stop even when the cleanup finds a leak (and throws it).
  try {
    await env?.cleanup();
  } finally {
    await cluster?.close();
  }
});

type Readiness = { status: number; redis: string };
const readiness = async (url: string): Promise<Readiness> => {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, redis: ((await res.json()) as { checks: { redis: string } }).checks.redis };
};

/** The index (in cluster.ports) of the master that serves the hash slot of the queues and bus streams. */
async function queueMaster(): Promise<number> {
  const slot = Number(await env.redis.cluster('KEYSLOT', `${slotPrefix(env.config)}:route`));
  const ranges = await env.redis.cluster('SLOTS');
  const [, , master] = ranges.find(([from, to]) => slot >= from && slot <= to)!;
  return cluster.ports.indexOf(master![1]);
}

it('a stopped master makes /readyz say Redis is down; when it returns, readiness and delivery recover', async () => {
  const web = await env.startWeb();
  await env.startRouter();
  await env.startInapp();
  const api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1']);
  expect(await readiness(web.url)).toEqual({ status: 200, redis: 'ok' });

  const master = await queueMaster();
  await cluster.stopNode(master);
  const whileDown = await settle(() => readiness(web.url), (r) => r.status === 503, 15_000);
  // An instance that starts while the master is away starts, and says it is not ready.
  const late = await env.startWeb();
  const lateWhileDown = await readiness(late.url);

  const stoppedAt = Date.now();
  await cluster.startNode(master);
  const back = await settle(() => readiness(web.url), (r) => r.status === 200, 30_000);
  const lateBack = await settle(() => readiness(late.url), (r) => r.status === 200, 30_000);
  const recoveredInMs = Date.now() - stoppedAt;

  // Both instances accept again, and what they accept reaches the inbox through the queues.
  const published = [];
  for (const [i, url] of [web.url, late.url].entries()) {
    published.push(await apiClient(url).post('/api/v1/events', { id: `after_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] }));
  }
  const inbox = await settle(
    () => checkInbox(env, [0, 1].map((i) => ({ eventId: `after_${i}`, userId: 'u1' }))),
    (c) => c.lost === 0,
    60_000,
  );

  report('cluster-master-down', {
    'readyz while down': `${whileDown.status} (redis ${whileDown.redis})`,
    'readyz of an instance started while down': `${lateWhileDown.status} (redis ${lateWhileDown.redis})`,
    'readyz back': `${back.status}/${lateBack.status} ${(recoveredInMs / 1000).toFixed(1)} s after the restart began`,
    'delivered after': `${inbox.delivered}/${inbox.expected}`,
  });
  expect(whileDown).toEqual({ status: 503, redis: 'down' });
  expect(lateWhileDown).toEqual({ status: 503, redis: 'down' });
  expect(back).toEqual({ status: 200, redis: 'ok' });
  expect(lateBack).toEqual({ status: 200, redis: 'ok' });
  expect(published.map((r) => r.status)).toEqual([202, 202]);
  expect(inbox.lostSample).toEqual([]);
}, 150_000);
