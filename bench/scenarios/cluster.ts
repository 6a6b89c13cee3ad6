import { startRedisCluster, type RedisCluster } from '../../test/faults/harness/redisCluster.ts';
import { createBenchEnv, createJsonClient, percentile, type Scenario } from '../harness.ts';
import { describeOpenLoop, openLoop, timedEvent, type OpenLoopRun } from '../openLoop.ts';
import type { Figure } from '../report.ts';
import { ratioOf } from '../report.ts';
import { openSse, type SseStream } from '../sseClient.ts';

const SECONDS = Number(process.env.BENCH_PUBLISH_SECONDS ?? 10);
const RATE = 1_000;
const USERS = 200;
const DRAIN_MS = 20_000;

type Layout = { name: string; webs: number; workers: number; cluster: boolean };

/**
 * SPEC §8.1 under load: publish → notification frame at 1,000 events/s with two `web`, two
 * router and two in-app processes on a three-master Redis Cluster (every master a redis-server
 * of this machine), next to one of each on one Redis — the same roles, driver and users, so the
 * difference is the scale-out and the cluster. Publishes go round-robin over the web instances,
 * and each user's stream sits on the other instance from the one that publishes to that user,
 * so every frame crosses instances. Only these three roles run: the other channels' workers
 * have no work here.
 */
async function measure(layout: Layout): Promise<OpenLoopRun> {
  let cluster: RedisCluster | undefined;
  const streams: SseStream[] = [];
  try {
    if (layout.cluster) cluster = await startRedisCluster();
    const env = await createBenchEnv(`cluster-${layout.name}`, cluster ? { REDIS_CLUSTER_NODES: cluster.nodes } : {});
    try {
      const userIds = Array.from({ length: USERS }, (_, i) => `c${String(i).padStart(3, '0')}`);
      const tenantOf = (userId: string) => `t_${userId}`;
      await env.sql`insert into tenants (id, name) select 't_' || u, u from unnest(${userIds}::text[]) as u`;
      await env.sql`insert into users (id, email, name, tenant_ids) select u, u || '@bench.example', u, array['t_' || u] from unnest(${userIds}::text[]) as u`;
      const webs = [];
      for (let i = 0; i < layout.webs; i++) webs.push(await env.spawn('web'));
      for (let i = 0; i < layout.workers; i++) {
        await env.spawn('router');
        await env.spawn('inapp');
      }

      let loop = openLoop(RATE, SECONDS, DRAIN_MS);
      let tag = '';
      const onFrame = (frame: { type: string; data: string }, at: number) => {
        if (frame.type !== 'notification') return;
        const { seq, run } = (JSON.parse(frame.data) as { data: { seq?: number; run?: string } }).data;
        if (run === tag && typeof seq === 'number') loop.arrived(seq, at);
      };
      for (const [i, userId] of userIds.entries()) {
        const web = webs[(i + 1) % webs.length]!;
        streams.push(await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${await env.userToken(userId, [tenantOf(userId)])}` }, { onFrame }));
      }
      const clients = webs.map((web) => createJsonClient(web.url, 128));
      const send = async (i: number, sentAt: number) => {
        const userId = userIds[i % USERS]!;
        const res = await clients[i % USERS % clients.length]!.post('/api/v1/events', timedEvent(tag, i, userId, tenantOf(userId), sentAt));
        return res.status === 202;
      };
      // A warm-up at a fifth of the rate, then the measured run.
      tag = 'warm';
      loop = openLoop(RATE / 5, 2, DRAIN_MS);
      await loop.run(send);
      tag = 'measured';
      loop = openLoop(RATE, SECONDS, DRAIN_MS);
      const run = await loop.run(send);
      for (const client of clients) client.close();
      return run;
    } finally {
      for (const stream of streams) stream.close();
      await env.cleanup();
    }
  } finally {
    await cluster?.close();
  }
}

export const clusterScaleOut: Scenario = {
  name: 'cluster',
  summary: `${RATE} events/s for ${SECONDS} s to ${USERS} streams: 2 web + 2 router + 2 in-app on a 3-master Redis Cluster vs 1 of each on one Redis`,
  async run() {
    const single = await measure({ name: 'single', webs: 1, workers: 1, cluster: false });
    const scaled = await measure({ name: 'scaled', webs: 2, workers: 2, cluster: true });
    const lost = (run: OpenLoopRun) => run.latencies.filter((l) => !Number.isFinite(l)).length;
    return (['p50', 'p99'] as const).map((p): Figure => {
      const [herald, baseline] = [percentile(scaled.latencies, p === 'p50' ? 50 : 99), percentile(single.latencies, p === 'p50' ? 50 : 99)];
      return {
        name: 'cluster',
        metric: `${RATE}/s ${p} latency, 2+2+2 on a cluster (baseline: 1+1+1 on one Redis)`,
        unit: 'ms',
        herald,
        baseline,
        ratio: ratioOf(herald, baseline),
        goal: 'informational',
        met: null,
        ...(p === 'p99' && { note: `cluster: ${describeOpenLoop(scaled)}, lost ${lost(scaled)}; single: ${describeOpenLoop(single)}, lost ${lost(single)}` }),
      };
    });
  },
};
