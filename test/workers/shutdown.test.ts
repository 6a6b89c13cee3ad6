import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { procfileNodeArgs } from '../../scripts/procfile.ts';
import { INLINE_INAPP_MAX, queueCatalog, type PayloadOf } from '../../src/queues/catalog.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { holdRow } from '../helpers/heldRow.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let env: TestEnv;
let api: ApiClient;
// The router writes small fan-outs itself; each event here also reaches this crowd, so its rows
// are the in-app worker's to write, in a job of its own.
const CROWD = Array.from({ length: INLINE_INAPP_MAX }, (_, i) => `c${String(i).padStart(3, '0')}`);

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await seedDirectory(api, 'acme', Array.from({ length: 20 }, (_, i) => `u${i}`));
  await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${CROWD}::text[]) as id`;
});
afterAll(() => env?.cleanup());

/**
 * The in-app worker as its own process, as the Procfile runs it — with tsx as a loader rather
 * than its CLI: the CLI relays SIGTERM to a child of its own and SIGKILLs that child when it does
 * not confirm the signal within a few tens of milliseconds, which a busy machine easily misses.
 */
function startInappProcess(): ChildProcess {
  return spawn(process.execPath, procfileNodeArgs('inapp'), {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      JWT_SECRET: env.config.JWT_SECRET,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The in-app deliveries as "<event> <user>": those still pending, and those sent on their first run. */
async function inappPairs(): Promise<{ pending: Set<string>; sentOnce: Set<string> }> {
  const rows = await env.db.$client`select event_id || ' ' || destination as pair, state, attempts from deliveries where channel = 'inapp'`;
  const where = (keep: (row: (typeof rows)[number]) => boolean) => new Set(rows.filter(keep).map((row) => row.pair as string));
  return { pending: where((row) => row.state === 'pending'), sentOnce: where((row) => row.state === 'sent' && row.attempts === 1) };
}

it('SIGTERM lets in-flight jobs finish: they complete in the stopping process, and after a restart every job ran exactly once', async () => {
  const events = Array.from({ length: 60 }, (_, i) => ({
    id: `stop_${i}`,
    tenantId: 'acme',
    type: 'finding_created',
    assigneeUserIds: [`u${i % 20}`, `u${(i + 7) % 20}`, ...CROWD],
  }));
  for (let i = 0; i < events.length; i += 100) {
    expect((await api.post('/api/v1/events/batch', { events: events.slice(i, i + 100) })).status).toBe(200);
  }
  // An inbox row of the first event, held in an open transaction: the worker's group that writes
  // it waits on the lock, so its jobs are in flight — by construction — until the test lets go.
  const held = await holdRow(env.db, (connection) => connection`insert into notifications (user_id, seq, tenant_id, event_id, type, title) values ('u0', -1, 'acme', 'stop_0', 'held', 'held')`);

  const worker = startInappProcess();
  let output = '';
  worker.stdout!.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
  const queue = new Queue<PayloadOf<'inapp'>>(queueCatalog.inapp.name, { connection: env.redis, prefix: env.config.REDIS_PREFIX });
  try {
    await eventually(async () => output.includes('inapp started'), 20_000);
    await env.startRouter();

    // The group with stop_0 waits on the lock, and the jobs the worker took meanwhile wait behind it.
    const inFlight = await eventually(async () => {
      if ((await held.waiting()) === 0) return null;
      const active = await queue.getJobs(['active']);
      return active.length >= 10 ? active : null;
    }, 20_000);
    const pairs = inFlight.flatMap((job) => job.data.userIds.map((userId) => `${job.data.eventId} ${userId}`));
    // In flight indeed: taken by the worker, not yet written.
    const { pending } = await inappPairs();
    expect(pairs.filter((pair) => !pending.has(pair))).toEqual([]);
    worker.kill('SIGTERM');
    await eventually(async () => output.includes('inapp stopping'));
    await held.release();
    expect(await exited).toBe(0);

    // Every job in flight at the signal finished in the process that was stopping: completed in
    // the queue, its inbox rows written and its deliveries marked sent on the first run.
    const { sentOnce } = await inappPairs();
    expect(pairs.filter((pair) => !sentOnce.has(pair)), 'in-flight rows not finished by the stopping worker').toEqual([]);
    for (const job of inFlight) expect(await queue.getJobState(job.id!), `job of ${job.data.eventId}`).toBe('completed');
    console.log(`shutdown: ${inFlight.length} in-app jobs (${pairs.length} inbox rows) in flight at SIGTERM, all finished before exit`);
  } finally {
    await held.release();
    if (worker.exitCode === null) worker.kill('SIGKILL');
    await queue.close();
  }

  await env.startInapp();
  const expected = events.length * (2 + CROWD.length);
  // The inbox rows are written first and their deliveries marked sent right after: wait for both.
  await eventually(async () => {
    const [row] = await env.db.$client`select count(*)::int as n from notifications`;
    const [pending] = await env.db.$client`select count(*)::int as n from deliveries where channel = 'inapp' and state = 'pending'`;
    return row!.n === expected && pending!.n === 0;
  }, 30_000);
  // attempts counts runs of the write: 1 everywhere means no batch was cut off and run again.
  const byAttempts = await env.db.$client`select attempts, state, count(*)::int as n from deliveries where channel = 'inapp' group by 1, 2`;
  expect(byAttempts).toEqual([{ attempts: 1, state: 'sent', n: expected }]);
}, 90_000);
