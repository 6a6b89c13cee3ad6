import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await seedDirectory(api, 'acme', Array.from({ length: 20 }, (_, i) => `u${i}`));
});
afterAll(() => env?.cleanup());

/**
 * The in-app worker as its own process, as the Procfile runs it — with tsx as a loader rather
 * than its CLI: the CLI relays SIGTERM to a child of its own and SIGKILLs that child when it does
 * not confirm the signal within a few tens of milliseconds, which a busy machine easily misses.
 */
function startInappProcess(): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'workers/inapp.ts'], {
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

it('SIGTERM lets in-flight jobs finish: after a restart every job ran exactly once', async () => {
  const worker = startInappProcess();
  let output = '';
  worker.stdout!.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
  await eventually(async () => output.includes('inapp started'), 20_000);
  await env.startRouter();

  const events = Array.from({ length: 300 }, (_, i) => ({
    id: `stop_${i}`,
    tenantId: 'acme',
    type: 'finding_created',
    assigneeUserIds: [`u${i % 20}`, `u${(i + 7) % 20}`],
  }));
  for (let i = 0; i < events.length; i += 100) {
    expect((await api.post('/api/v1/events/batch', { events: events.slice(i, i + 100) })).status).toBe(200);
  }
  // Stop it mid-batch: some inbox rows are written, others are still queued.
  await eventually(async () => {
    const [row] = await env.db.$client`select count(*)::int as n from deliveries where channel = 'inapp' and state = 'sent'`;
    return row!.n > 0;
  }, 20_000);
  worker.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(output).toContain('inapp stopping');

  await env.startInapp();
  const expected = events.length * 2;
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
