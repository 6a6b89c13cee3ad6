import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
});
afterAll(() => env?.cleanup());

const routedCount = async (ids: string[]) => (await routedEventIds(env.db.$client, ids)).length;

// A route job completes once its frames are out; the routed marks of passes that end close
// together go later, as one statement (workers/roles/router.ts). A router stopped in between
// must still write them, or every such event would be routed and announced again by the sweeper.
it('a router stopped right after routing still marks what it routed', async () => {
  const router = await env.startRouter();
  const ids = Array.from({ length: 30 }, (_, i) => `mark_${i}`);
  const events = ids.map((id, i) => ({ id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: [`u${(i % 2) + 1}`] }));
  expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);

  // Every inbox row written is a pass whose frames are on their way; stop at once.
  await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where event_id = any(${ids})`)[0]!.n === ids.length, 10_000, 5);
  await env.stop(router);

  expect(await routedCount(ids)).toBe(ids.length);
});

it('marks the events of passes that end close together in one statement', async () => {
  // Every statement that takes events out of the outbox (a mark) leaves a row saying how many.
  await env.db.$client.unsafe(`
    create table outbox_marks (events int not null);
    create function record_outbox_mark() returns trigger language plpgsql as
      $$ begin insert into outbox_marks select count(*) from marked; return null; end $$;
    create trigger outbox_marks after delete on event_outbox referencing old table as marked
      for each statement execute function record_outbox_mark();`);
  await env.startRouter();
  const ids = Array.from({ length: 20 }, (_, i) => `trickle_${i}`);
  // One event at a time, the next sent once the last one's inbox row is written: a pass each.
  for (const [i, id] of ids.entries()) {
    expect((await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: [`u${(i % 2) + 1}`] })).status).toBe(202);
    await eventually(async () => (await env.db.$client`select 1 from notifications where event_id = ${id}`).length === 1, 10_000, 2);
  }
  await eventually(async () => (await routedCount(ids)) === ids.length, 10_000);
  // now() is a transaction's start: the rows one statement wrote share it.
  const [row] = await env.db.$client<{ passes: number; marks: number; marked: number }[]>`
    select (select count(distinct created_at)::int from notifications where event_id = any(${ids})) as passes,
           (select count(*)::int from outbox_marks where events > 0) as marks,
           (select coalesce(sum(events), 0)::int from outbox_marks) as marked`;
  expect(row!.passes).toBe(ids.length);
  expect(row!.marked).toBe(ids.length);
  expect(row!.marks).toBeLessThan(ids.length);
});

// A route job carries the events of one intake commit: a router routes them in one pass, not the
// first alone and the rest in a second that waits for it (the first submitted used to start a pass).
it('routes the events of one route job in one pass', async () => {
  await env.startRouter();
  const ids = Array.from({ length: 6 }, (_, i) => `job_${i}`);
  const events = ids.map((id, i) => ({ id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: [`u${(i % 2) + 1}`] }));
  // One batch request is one intake commit, and so one route job.
  expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);
  await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where event_id = any(${ids})`)[0]!.n === ids.length, 10_000);
  const [row] = await env.db.$client<{ passes: number }[]>`select count(distinct created_at)::int as passes from notifications where event_id = any(${ids})`;
  expect(row!.passes).toBe(1);
});
