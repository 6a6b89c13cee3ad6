import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { INLINE_INAPP_MAX } from '../../src/queues/catalog.ts';
import { createRedis, deleteKeysWithPrefix } from '../../src/redis.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import type { Role } from '../../workers/roles/role.ts';

let env: TestEnv;
let api: ApiClient;
let inapp: Role;
// The router writes small fan-outs' inbox rows itself; an event for u1 and this crowd is large
// enough to go through in-app jobs, which is what the last two tests lose on purpose.
const crowd = Array.from({ length: INLINE_INAPP_MAX }, (_, i) => `crowd${String(i).padStart(3, '0')}`);

beforeAll(async () => {
  env = await createTestEnv({ OUTBOX_SWEEP_AFTER_SECONDS: '1' });
  api = apiClient((await env.startWeb()).url);
  await seedDirectory(api, 'acme', ['u1']);
  await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${crowd}::text[]) as id`;
});

const inappJobsQueued = async () => {
  const connection = createRedis(env.config.REDIS_URL, 'command');
  const queue = new Queue('inapp', { connection, prefix: env.config.REDIS_PREFIX });
  const counts = await queue.getJobCounts('waiting', 'prioritized');
  await queue.close();
  connection.disconnect();
  return (counts.waiting ?? 0) + (counts.prioritized ?? 0) > 0;
};
afterAll(() => env?.cleanup());

it('routes an event whose route job was lost (Redis keys deleted after accept) through the outbox sweeper', async () => {
  // No router is running yet: the accepted events wait as route jobs in Redis.
  const ids = ['lost_1', 'lost_2', 'lost_3'];
  for (const id of ids) {
    expect((await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] })).status).toBe(202);
  }
  await eventually(async () => (await env.redis.keys(`${env.config.REDIS_PREFIX}:route:*`)).length > 0);
  // Each was stored with its outbox row, in the same statement: that row is what the sweeper finds.
  expect((await env.db.$client`select id from event_outbox where tenant_id = 'acme' and id = any(${ids}) order by id`).map((r) => r.id)).toEqual(ids);
  await deleteKeysWithPrefix(env.redis, env.config.REDIS_PREFIX);

  await env.startRouter();
  inapp = await env.startInapp();
  const token = await env.userToken('u1', ['acme']);
  const inbox = await eventually(async () => {
    const res = await api.get('/api/v1/notifications', token);
    return res.body.items.length === ids.length ? res.body.items : null;
  }, 20_000);
  expect(inbox.map((n: { eventId: string }) => n.eventId).sort()).toEqual(ids);
  // The router marks a group routed right after announcing its rows: wait for the mark too.
  await eventually(async () => (await env.db.$client`select count(*)::int as n from event_outbox`)[0]!.n === 0);
});

/** Whether every in-app batch recorded for the event is written. */
const batchesWritten = async (eventId: string) =>
  (await env.db.$client<{ n: number }[]>`select count(*)::int as n from inapp_batches where event_id = ${eventId} and written_at is null`)[0]!.n === 0;

it('enqueues again, from its row, an in-app batch whose job was lost after routing (Redis flushed before the worker ran)', async () => {
  // The in-app worker is behind: the event is routed, its people are a recorded batch and a job in Redis.
  await env.stop(inapp);
  expect((await api.post('/api/v1/events', { id: 'lost_after_route', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1', ...crowd] })).status).toBe(202);
  await eventually(async () => (await routedEventIds(env.db.$client, ['lost_after_route'])).length === 1);
  await eventually(inappJobsQueued);
  await deleteKeysWithPrefix(env.redis, env.config.REDIS_PREFIX);

  inapp = await env.startInapp();
  const token = await env.userToken('u1', ['acme']);
  await eventually(async () => (await api.get('/api/v1/notifications', token)).body.items.some((n: { eventId: string }) => n.eventId === 'lost_after_route'), 20_000);
  // The inbox row is written and announced before its batch is marked written, so wait for the mark too.
  await eventually(() => batchesWritten('lost_after_route'));
  expect(await env.db.$client`select 1 from inapp_batches where event_id = 'lost_after_route'`).toHaveLength(1);
});

it('runs again an in-app batch that failed for good, so the inbox row still arrives', async () => {
  await env.stop(inapp);
  expect((await api.post('/api/v1/events', { id: 'gave_up', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1', ...crowd] })).status).toBe(202);
  await eventually(inappJobsQueued);
  // A consumer whose every try fails (as the in-app worker's do while Postgres is away) spends the batch's tries.
  const connection = createRedis(env.config.REDIS_URL, 'worker');
  const failing = new Worker('inapp', async () => { throw new UnrecoverableError('postgres unreachable'); }, { connection, prefix: env.config.REDIS_PREFIX });
  const queue = new Queue('inapp', { connection, prefix: env.config.REDIS_PREFIX });
  await eventually(async () => ((await queue.getJobCounts('failed')).failed ?? 0) >= 1);
  await failing.close();
  await queue.close();
  connection.disconnect();

  inapp = await env.startInapp();
  const token = await env.userToken('u1', ['acme']);
  await eventually(async () => (await api.get('/api/v1/notifications', token)).body.items.some((n: { eventId: string }) => n.eventId === 'gave_up'), 20_000);
  await eventually(() => batchesWritten('gave_up'));
});

it('finishes pending in-app deliveries an older router left: marks sent those whose row is written, routes again the events of the rest', async () => {
  // As a router from before in-app batches left two routed events whose jobs Redis lost: one
  // whose inbox row was written (its worker died before marking it), one whose row never was.
  for (const id of ['old_written', 'old_unwritten']) {
    expect((await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1', ...crowd] })).status).toBe(202);
    await eventually(async () => (await routedEventIds(env.db.$client, [id])).length === 1);
    await eventually(() => batchesWritten(id));
  }
  await env.db.$client`delete from inapp_batches where event_id in ('old_written', 'old_unwritten')`;
  await env.db.$client`delete from notifications where event_id = 'old_unwritten'`;
  await env.db.$client`
    insert into deliveries (tenant_id, event_id, channel, destination, user_id, state, updated_at)
    select 'acme', e, 'inapp', 'u1', 'u1', 'pending', now() - interval '1 minute' from unnest(array['old_written', 'old_unwritten']) as e`;

  const stateOf = async (id: string) => (await env.db.$client`select state from deliveries where event_id = ${id} and channel = 'inapp' and destination = 'u1'`)[0]?.state;
  await eventually(async () => (await stateOf('old_written')) === 'sent' && (await stateOf('old_unwritten')) === 'sent', 20_000);
  // The second's row was written by routing it again, then its delivery marked sent at a later sweep.
  expect(await env.db.$client`select 1 from notifications where event_id = 'old_unwritten' and user_id = 'u1'`).toHaveLength(1);
});
