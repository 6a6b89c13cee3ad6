import { afterAll, beforeAll, expect, it } from 'vitest';
import { INLINE_INAPP_MAX } from '../../src/queues/catalog.ts';
import { apiClient, type ApiClient } from '../helpers/api.ts';
import { openFaultWorld, report, settle, sleep, type FaultWorld } from './harness/scenario.ts';
import { openLightStream, type LightStream } from './harness/sseClients.ts';
import { spawnApi, spawnWorker, type WorkerProcess } from './harness/workerProcess.ts';

/**
 * Issue #20: resume without loss when many processes write inboxes. The router writes small
 * fan-outs itself and two in-app worker processes write the batches of large ones, all for the
 * same users at once, while every user's client drops its stream and resumes from the last
 * frame id it saw, at random, for 30 s. In the end every client has every row of its user
 * exactly once: none missed across a resume, none carried twice.
 */

const USERS = Array.from({ length: 20 }, (_, i) => `w${String(i).padStart(2, '0')}`);
const CROWD = Array.from({ length: INLINE_INAPP_MAX }, (_, i) => `wc${String(i).padStart(3, '0')}`);
const SECONDS = 30;
const RATE = 40;

let world: FaultWorld;
let api: ApiClient;
let baseUrl: string;
const processes: WorkerProcess[] = [];

beforeAll(async () => {
  world = await openFaultWorld();
  const { config } = world.env;
  const web = spawnApi(config);
  processes.push(web, spawnWorker('router', config), spawnWorker('inapp', config), spawnWorker('inapp', config));
  await Promise.all(processes.map((p) => p.started()));
  baseUrl = web.url();
  api = apiClient(baseUrl);
  await api.put('/api/v1/tenants/acme', { name: 'Acme' });
  await world.env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${[...USERS, ...CROWD]}::text[]) as id`;
});

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop()));
  await world?.close();
});

/** A client that keeps dropping its stream and resuming from the last frame id it saw, until told to stop. */
function flakyClient(userId: string, token: string) {
  const received: string[] = [];
  let lastId = '0';
  let current: LightStream | undefined;
  let stopping = false;
  let resumes = 0;
  const running = (async () => {
    while (!stopping) {
      current = await openLightStream(baseUrl, token, lastId);
      await sleep(200 + Math.random() * 1_500);
      current.close();
      received.push(...current.eventIds);
      lastId = current.lastFrameId() ?? lastId;
      resumes++;
      await sleep(Math.random() * 300);
    }
  })();
  return {
    userId,
    received,
    resumes: () => resumes,
    /** Stops resuming, then reads one last stream until `expected` rows have come (or time runs out). */
    async finish(expected: number): Promise<void> {
      stopping = true;
      await running;
      const last = await openLightStream(baseUrl, token, lastId);
      await settle(async () => received.length + last.eventIds.length, (n) => n >= expected, 20_000);
      await sleep(300);
      last.close();
      received.push(...last.eventIds);
    },
  };
}

it('two in-app processes and the router writing the same inboxes while clients resume at random: every row exactly once', async () => {
  const clients = await Promise.all(USERS.map(async (userId) => flakyClient(userId, await world.env.userToken(userId, ['acme']))));

  // Events for the whole run: most reach two or three of the users (the router writes those);
  // every fifth also reaches the crowd, so its rows are an in-app job's, on either process.
  let n = 0;
  let refused = 0;
  const started = performance.now();
  const posts: Promise<void>[] = [];
  while (performance.now() - started < SECONDS * 1_000) {
    const i = n++;
    const few = [USERS[i % USERS.length]!, USERS[(i * 7 + 3) % USERS.length]!, ...(i % 3 === 0 ? [USERS[(i * 11 + 5) % USERS.length]!] : [])];
    const event = { id: `many_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: i % 5 === 0 ? [...USERS, ...CROWD] : few };
    posts.push(api.post('/api/v1/events', event).then((res) => void (res.status === 202 || refused++)));
    await sleep(1_000 / RATE);
  }
  await Promise.all(posts);

  // Every accepted event routed and every in-app row written: what each client must end up with.
  const { rows } = await settle(
    async () => ({
      pending: (await world.env.db.$client`select
          (select count(*)::int from event_outbox) + (select count(*)::int from inapp_batches where written_at is null) as n`)[0]!.n as number,
      rows: await world.env.db.$client<{ user_id: string; event_id: string }[]>`
        select user_id, event_id from notifications where user_id = any(${USERS}) order by user_id, seq`,
    }),
    (state) => state.pending === 0,
    60_000,
  );
  const expected = new Map(USERS.map((u) => [u, rows.filter((r) => r.user_id === u).map((r) => r.event_id)]));
  await Promise.all(clients.map((c) => c.finish(expected.get(c.userId)!.length)));

  let missing = 0;
  let twice = 0;
  const samples: string[] = [];
  for (const client of clients) {
    const want = expected.get(client.userId)!;
    const got = new Map<string, number>();
    for (const id of client.received) got.set(id, (got.get(id) ?? 0) + 1);
    for (const id of want) if (!got.has(id)) (missing++, samples.push(`${client.userId} missed ${id}`));
    for (const [id, count] of got) if (count > 1) (twice++, samples.push(`${client.userId} got ${id} ${count}×`));
  }
  report('resume-many-writers', {
    events: n,
    'rows of the watched users': rows.length,
    resumes: clients.reduce((sum, c) => sum + c.resumes(), 0),
    missed: missing,
    'carried twice': twice,
  });
  expect(refused).toBe(0);
  expect(samples.slice(0, 10)).toEqual([]);
  expect(rows.length).toBeGreaterThan(SECONDS * RATE);
}, 180_000);
