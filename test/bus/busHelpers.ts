import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { procfileNodeArgs } from '../../scripts/procfile.ts';
import type { Config } from '../../src/config.ts';
import type { Db } from '../../src/db/client.ts';
import { holdRow, type HeldRow } from '../helpers/heldRow.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The bus worker as production runs it (`workers/bus.ts`), in its own process, so a test can
 * SIGKILL it: no hook inside the listener, a real crash.
 */
export function spawnBusProcess(config: Config, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, procfileNodeArgs('bus'), {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      DATABASE_URL: config.DATABASE_URL,
      REDIS_URL: config.REDIS_URL,
      REDIS_PREFIX: config.REDIS_PREFIX,
      JWT_SECRET: config.JWT_SECRET,
      SERVICE_KEYS: JSON.stringify(config.SERVICE_KEYS),
      BUS_DEFAULT_KEY: config.BUS_DEFAULT_KEY ?? '',
      BUS_CLAIM_IDLE_MS: String(config.BUS_CLAIM_IDLE_MS),
      NATS_URL: '',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ...env,
    },
  });
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(`[bus child] ${chunk.toString()}`));
  return child;
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Inserts `eventId` in a transaction left open: a worker storing the same id waits on it. The
 * intake stores the first message of a batch alone and the rest together, so with the blocked id
 * in the rest, a worker has committed one event and is stuck before acking any — as long as the
 * test wants. Released, the row is rolled back and the id is free again.
 */
export function holdEventId(db: Db, eventId: string): Promise<HeldRow> {
  return holdRow(db, (connection) => connection`insert into events (id, tenant_id, type, envelope, occurred_at) values (${eventId}, 'acme', 'held', '{}', now())`);
}

/** How many times an event was stored and how many inbox rows it produced. */
export async function copiesOf(db: Db, eventId: string): Promise<{ events: number; notifications: number }> {
  const [row] = await db.$client`
    select (select count(*)::int from events where id = ${eventId}) as events,
           (select count(*)::int from notifications where event_id = ${eventId}) as notifications`;
  return { events: row!.events as number, notifications: row!.notifications as number };
}

/**
 * The assignees of an event as stored. Routing reads the stored envelope, never a message's, so
 * while this is unchanged no later routing run can reach anyone a duplicate message added.
 */
export async function storedAssignees(db: Db, eventId: string): Promise<string[]> {
  const [row] = await db.$client`select envelope->'assigneeUserIds' as ids from events where id = ${eventId}`;
  return (row?.ids ?? []) as string[];
}
