/**
 * `npx tsx bench/tools/redisMemory.ts [streams]`: Redis memory that Herald's work costs, measured
 * on a redis-server of its own (so nothing else moves `used_memory`): per 1,000 queued jobs of
 * each shape, and per open live stream (one web process holding them). The README's sizing
 * figures come from here; not part of `npm run bench`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeQueues, createQueues, deliveryJobId, routeJobId } from '../../src/queues/catalog.ts';
import { freePort } from '../../test/faults/harness/processes.ts';
import { startRedis } from '../../test/faults/harness/redisServer.ts';
import { createBenchEnv, waitUntil } from '../harness.ts';
import { mapLimit, openSse, type SseStream } from '../sseClient.ts';

const STREAMS = Number(process.argv[2] ?? 1_000);
const JOBS = 1_000;

const dir = mkdtempSync(join(tmpdir(), 'herald-redis-memory-'));
const redisServer = await startRedis(dir, await freePort());
const env = await createBenchEnv('redis-memory', { REDIS_URL: redisServer.url, LOG_LEVEL: 'warn' });
const streams: SseStream[] = [];

async function usedMemory(): Promise<number> {
  const info = await env.redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

/** Memory a change of state costs: `used_memory` after minus before. */
async function cost(change: () => Promise<unknown>): Promise<number> {
  const before = await usedMemory();
  await change();
  return (await usedMemory()) - before;
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

try {
  // Nothing consumes these queues here: the jobs stay waiting, as a backlog would.
  const queues = createQueues(env.redis, env.prefix);
  await queues.email.waitUntilReady();
  const deliveryJobs = await cost(() =>
    mapLimit(Array.from({ length: JOBS }, (_, i) => i), 32, async (i) => {
      const deliveryId = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      await queues.email.add('deliver', { deliveryId, eventId: `evt_${i}` }, { jobId: deliveryJobId(deliveryId) });
    }),
  );
  // A route job as the intake adds it: the event's envelope travels along.
  const routeJobs = await cost(() =>
    mapLimit(Array.from({ length: JOBS }, (_, i) => i), 32, async (i) => {
      const ref = { tenantId: 'acme', id: `evt_${i}` };
      const envelope = {
        ...ref,
        type: 'finding_created',
        severity: 'high',
        actorId: 'u1',
        occurredAt: new Date().toISOString(),
        assigneeUserIds: ['u1', 'u2'],
        assigneeTeamIds: [],
        recipientUserIds: [],
        approval: null,
        data: { title: `Finding ${i} in repository acme/web`, url: `https://example.com/findings/${i}` },
      };
      await queues.route.add('route', { events: [ref], stored: { envelopes: [envelope as never], acceptedAt: new Date().toISOString() } }, { jobId: routeJobId([ref]) });
    }),
  );
  await closeQueues(queues);

  await env.seedTenant('acme');
  const users = await env.seedUsers('acme', 's', STREAMS);
  const web = await env.spawn('web');
  const idle = await usedMemory();
  await mapLimit(users, 50, async (userId) => {
    streams.push(await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${await env.userToken(userId, ['acme'])}` }, {}));
  });
  const channels = async () => ((await env.redis.pubsub('CHANNELS', `${env.prefix}:live:user:*`)) as string[]).length;
  await waitUntil('every stream subscribed', async () => (await channels()) === STREAMS, 30_000);
  const streamCost = (await usedMemory()) - idle;

  const rows: [string, string, string][] = [
    [`${JOBS} waiting delivery jobs (email/webhook/chat/push)`, kib(deliveryJobs), `${Math.round(deliveryJobs / JOBS)} B/job`],
    [`${JOBS} waiting route jobs (one event each, envelope carried)`, kib(routeJobs), `${Math.round(routeJobs / JOBS)} B/job`],
    [`${STREAMS} open live streams (one web process)`, kib(streamCost), `${Math.round(streamCost / STREAMS)} B/stream`],
  ];
  console.log('redis memory (used_memory deltas on a redis-server of its own)');
  for (const row of rows) console.log(`  ${row[0].padEnd(62)} ${row[1].padStart(10)}  ${row[2]}`);
} finally {
  for (const stream of streams) stream.close();
  await env.cleanup();
  await redisServer.close();
  rmSync(dir, { recursive: true, force: true });
}
