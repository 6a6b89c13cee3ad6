import { afterAll, beforeAll, expect, it } from 'vitest';
import { deleteKeysWithPrefix } from '../../src/redis.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv({ OUTBOX_SWEEP_AFTER_SECONDS: '1' });
  api = apiClient((await env.startWeb()).url);
  await seedDirectory(api, 'acme', ['u1']);
});
afterAll(() => env?.cleanup());

it('routes an event whose route job was lost (Redis keys deleted after accept) through the outbox sweeper', async () => {
  // No router is running yet: the accepted events wait as route jobs in Redis.
  const ids = ['lost_1', 'lost_2', 'lost_3'];
  for (const id of ids) {
    expect((await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] })).status).toBe(202);
  }
  await eventually(async () => (await env.redis.keys(`${env.config.REDIS_PREFIX}:route:*`)).length > 0);
  await deleteKeysWithPrefix(env.redis, env.config.REDIS_PREFIX);

  await env.startRouter();
  await env.startInapp();
  const token = await env.userToken('u1', ['acme']);
  const inbox = await eventually(async () => {
    const res = await api.get('/api/v1/notifications', token);
    return res.body.items.length === ids.length ? res.body.items : null;
  }, 20_000);
  expect(inbox.map((n: { eventId: string }) => n.eventId).sort()).toEqual(ids);
  const unrouted = await env.db.$client`select count(*)::int as n from events where routed_at is null`;
  expect(unrouted[0]!.n).toBe(0);
});
