import { afterAll, beforeAll, expect, it } from 'vitest';
import { createQueues, routeJobId, type Queues } from '../../src/queues/catalog.ts';
import { startRouter } from '../../workers/roles/router.ts';
import { eventually } from '../helpers/api.ts';
import { capturedLog } from '../helpers/capturedLog.ts';
import { storeUnroutedEvents } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let queues: Queues;
const { logger, lines } = capturedLog();

beforeAll(async () => {
  env = await createTestEnv();
  await env.db.$client`insert into tenants (id, name) values ('acme', 'Acme')`;
  await env.startRole((config) => startRouter(config, logger));
  queues = createQueues(env.redis, env.config.REDIS_PREFIX);
});
afterAll(() => env?.cleanup());

it('names the events of a route job that failed for good in the line that says so', async () => {
  // Rows no intake would store (the assignee list is not a list), as from an older version: routing them throws.
  const ids = ['stuck_a', 'stuck_b'];
  await storeUnroutedEvents(env.db.$client, ids.map((id) => ({ id, assignees: 42 })));
  const events = ids.map((id) => ({ tenantId: 'acme', id }));
  await queues.route.add('route', { events }, { jobId: routeJobId(events), attempts: 1 });

  const failure = await eventually(async () =>
    lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.msg === 'job failed for good'),
  );
  expect(failure).toMatchObject({ queue: 'route', jobId: routeJobId(events), outcome: 'failed', events: ['acme/stuck_a', 'acme/stuck_b'], eventCount: 2 });
});
