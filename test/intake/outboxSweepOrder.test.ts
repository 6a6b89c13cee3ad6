import { afterAll, beforeAll, expect, it } from 'vitest';
import { createOutboxSweeper } from '../../src/intake/outboxSweeper.ts';
import { createQueues, type Queues } from '../../src/queues/catalog.ts';
import { apiClient, eventually, seedDirectory } from '../helpers/api.ts';
import { routedEventIds, storeUnroutedEvents } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let queues: Queues;

beforeAll(async () => {
  // The router's own sweeper calls an event stale after an hour: only the test's sweeper, with
  // its small batches, sees the rows below (accepted ten minutes ago).
  env = await createTestEnv({ OUTBOX_SWEEP_AFTER_SECONDS: '3600' });
  await seedDirectory(apiClient((await env.startWeb()).url), 'acme', ['u1']);
  await env.startRouter();
  queues = createQueues(env.redis, env.config.REDIS_PREFIX);
});
afterAll(() => env?.cleanup());

it('reaches every stale event, however many older ones that never route fill its batches', async () => {
  // Older: rows no intake would store (the assignee list is not a list), as from an older
  // version — routing them throws, every time. Newer: events whose route jobs Redis lost.
  const stuck = ['stuck_1', 'stuck_2', 'stuck_3'];
  const lost = ['lost_a', 'lost_b'];
  await storeUnroutedEvents(
    env.db.$client,
    [...stuck, ...lost].map((id, i) => ({ id, assignees: stuck.includes(id) ? 42 : ['u1'], acceptedAt: new Date(Date.now() - 600_000 + i * 1_000).toISOString() })),
  );

  // Two stale events a sweep: the oldest two's job keeps failing and is re-added whenever it has
  // failed for good, so a sweep that always began at the oldest end would never get past them.
  const sweeper = createOutboxSweeper({ db: env.db, queues, logger: env.logger, afterSeconds: 60, batchSize: 2 });
  await eventually(
    async () => {
      await sweeper.sweep();
      return (await routedEventIds(env.db.$client, lost)).length === lost.length;
    },
    20_000,
    200,
  );
  expect(await routedEventIds(env.db.$client, [...stuck, ...lost])).toEqual(lost);
  const inbox = await env.db.$client`select event_id, user_id from notifications where event_id = any(${lost}) order by event_id`;
  expect(inbox.map((row) => [row.event_id, row.user_id])).toEqual([
    ['lost_a', 'u1'],
    ['lost_b', 'u1'],
  ]);
});
