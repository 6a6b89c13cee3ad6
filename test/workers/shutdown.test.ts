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

/** The inbox rows as "<event> <user>", and the recorded in-app batches as "<event> <batch>" by whether they are written. */
async function inappProgress(): Promise<{ rows: Set<string>; unwritten: Set<string>; written: Set<string> }> {
  const rows = await env.db.$client`select event_id || ' ' || user_id as pair from notifications`;
  const batches = await env.db.$client`select event_id || ' ' || batch as batch, written_at is not null as written from inapp_batches`;
  const where = (written: boolean) => new Set(batches.filter((b) => b.written === written).map((b) => b.batch as string));
  return { rows: new Set(rows.map((row) => row.pair as string)), unwritten: where(false), written: where(true) };
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
    const batches = inFlight.map((job) => `${job.data.eventId} ${job.data.batch}`);
    // In flight indeed: taken by the worker, not yet written.
    const before = await inappProgress();
    expect(pairs.filter((pair) => before.rows.has(pair))).toEqual([]);
    expect(batches.filter((batch) => !before.unwritten.has(batch))).toEqual([]);
    worker.kill('SIGTERM');
    await eventually(async () => output.includes('inapp stopping'));
    await held.release();
    expect(await exited).toBe(0);

    // Every job in flight at the signal finished in the process that was stopping: completed in
    // the queue, its inbox rows written and its batch marked written, on the first run.
    const after = await inappProgress();
    expect(pairs.filter((pair) => !after.rows.has(pair)), 'in-flight rows not written by the stopping worker').toEqual([]);
    expect(batches.filter((batch) => !after.written.has(batch)), 'in-flight batches not marked by the stopping worker').toEqual([]);
    for (const job of inFlight) expect(await queue.getJobState(job.id!), `job of ${job.data.eventId}`).toBe('completed');
    console.log(`shutdown: ${inFlight.length} in-app jobs (${pairs.length} inbox rows) in flight at SIGTERM, all finished before exit`);
  } finally {
    await held.release();
    if (worker.exitCode === null) worker.kill('SIGKILL');
    await queue.close();
  }

  await env.startInapp();
  const expected = events.length * (2 + CROWD.length);
  // The inbox rows are written first and their batches marked written right after: wait for both.
  await eventually(async () => {
    const { rows, unwritten, written } = await inappProgress();
    return rows.size === expected && unwritten.size === 0 && written.size === events.length;
  }, 30_000);
  // Each batch's job ran once: none was cut off and run again.
  const inappQueue = new Queue<PayloadOf<'inapp'>>(queueCatalog.inapp.name, { connection: env.redis, prefix: env.config.REDIS_PREFIX });
  try {
    const jobs = await inappQueue.getJobs(['completed']);
    expect(jobs).toHaveLength(events.length);
    expect(jobs.filter((job) => job.attemptsStarted !== 1).map((job) => `${job.data.eventId} ${job.attemptsStarted}`)).toEqual([]);
  } finally {
    await inappQueue.close();
  }
}, 90_000);
