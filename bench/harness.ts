import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import type { Redis } from 'ioredis';
import { signUserToken } from '../src/auth/userTokens.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { closeDb, createDb, type Db } from '../src/db/client.ts';
import { runMigrations } from '../src/db/migrate.ts';
import { createRedis, deleteKeysWithPrefix } from '../src/redis.ts';
import { procfileNodeFlags, procfileProcesses } from '../scripts/procfile.ts';
import type { PostgresTraffic } from './pgWireCounter.ts';

const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHILD_ENTRY = fileURLToPath(new URL('./child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const SERVICE_KEY = 'bench-service-key-all-tenants-0001';

/** Where child processes write their output; printed when something goes wrong. */
export const LOG_DIR = join(tmpdir(), `herald-bench-${process.pid}`);
mkdirSync(LOG_DIR, { recursive: true });

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` is truthy; throws naming `what` when time runs out. */
export async function waitUntil<T>(what: string, check: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs: number, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Nearest-rank percentile of unsorted values (copied and sorted here). Infinity stands for "never arrived". */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: number[]) => percentile(values, 50);

/** Resident memory of a process, in KiB, from /proc/<pid>/status. */
export function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** A process the bench started: a Herald role or a baseline, speaking the small IPC protocol of bench/child.ts. */
export type Child = {
  role: string;
  pid: number;
  /** Set by roles that listen (web, baseline servers). */
  url: string;
  /** Sends a message and resolves with the child's answer of type `replyType`. */
  request<T = Record<string, unknown>>(message: Record<string, unknown>, replyType: string, timeoutMs?: number): Promise<T>;
  /** Runs a full GC in the child; resolves with its process.memoryUsage(). */
  collectGarbage(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
};

type ChildMessage = { type: string; [key: string]: unknown };

const PROCFILE_PROCESSES = procfileProcesses();
/** The node flags every child starts with: the Procfile's (see spawnChild). */
const PROCFILE_NODE_FLAGS = procfileNodeFlags(PROCFILE_PROCESSES);
/** The worker processes of the Procfile, besides `web` (bench/child.ts starts each by its Procfile name). */
const PIPELINE_WORKERS = PROCFILE_PROCESSES.map((p) => p.name).filter((name) => name !== 'web');

const liveChildren = new Set<ChildProcess>();

/**
 * Starts `node <the Procfile's node flags> bench/child.ts <role>` — the same way for Herald's
 * roles and for the baselines, so both pay the same process setup and run on the same runtime
 * settings — and waits for it to say it is ready.
 */
export async function spawnChild(role: string, env: Record<string, string>, logName = role): Promise<Child> {
  const logFile = join(LOG_DIR, `${logName}-${randomBytes(3).toString('hex')}.log`);
  const log = createWriteStream(logFile);
  // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it exits (open in Chrome DevTools).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_CPU_PROF, logName)}`] : [];
  // BENCH_NODE_FLAGS: more flags for every child (e.g. --trace-gc, which NODE_OPTIONS refuses); their output lands in the child's log.
  const extraFlags = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const proc = spawn(process.execPath, [...profile, ...extraFlags, '--expose-gc', ...PROCFILE_NODE_FLAGS, CHILD_ENTRY, role], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  liveChildren.add(proc);
  proc.stdout!.pipe(log, { end: false });
  proc.stderr!.pipe(log, { end: false });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      exited = true;
      liveChildren.delete(proc);
      resolve();
    }),
  );
  const waiters = new Set<(m: ChildMessage) => void>();
  proc.on('message', (m: ChildMessage) => {
    for (const w of [...waiters]) w(m);
  });

  function awaitMessage<T>(type: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`${role}: no '${type}' within ${timeoutMs} ms (log: ${logFile})`)), timeoutMs);
      const onExit = () => done(new Error(`${role} exited before '${type}' (log: ${logFile})`));
      const waiter = (m: ChildMessage) => {
        if (m.type === type) done(null, m as T);
        else if (m.type === 'error') done(new Error(`${role}: ${String(m.message)} (log: ${logFile})`));
      };
      function done(err: Error | null, value?: T) {
        clearTimeout(timer);
        waiters.delete(waiter);
        proc.off('exit', onExit);
        if (err) reject(err);
        else resolve(value!);
      }
      waiters.add(waiter);
      proc.once('exit', onExit);
    });
  }

  const ready = await awaitMessage<{ url?: string }>('ready', 60_000);
  return {
    role,
    pid: proc.pid!,
    url: ready.url ?? '',
    request(message, replyType, timeoutMs = 120_000) {
      const reply = awaitMessage<any>(replyType, timeoutMs);
      proc.send(message);
      return reply;
    },
    collectGarbage() {
      const reply = awaitMessage<NodeJS.MemoryUsage>('gc-done', 30_000);
      proc.send({ type: 'gc' });
      return reply;
    },
    async stop() {
      if (exited) return;
      proc.send({ type: 'stop' });
      const force = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(force);
      log.end();
    },
  };
}

/** Last resort on Ctrl-C or a crash: children die with the bench. */
export function killAllChildren(): void {
  for (const proc of liveChildren) proc.kill('SIGKILL');
}

/**
 * startWeb resolves once the server listens, but its pub/sub connection may still be running
 * ioredis's ready check: a stream opened in that moment fails with 500 ("Connection in
 * subscriber mode"; see the bench report). Wait for /readyz and a short settle so the
 * scenarios measure the steady state, not that start-up race.
 */
async function settleWeb(url: string): Promise<void> {
  await waitUntil(`${url}/readyz`, async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok, 30_000, 100);
  await sleep(1_000);
}

export type BenchEnv = Awaited<ReturnType<typeof createBenchEnv>>;

/**
 * CPU used during a piece of work: each child's (ms, by role), the machine's shared services'
 * (ms: every Postgres and Redis process, whoever asked them) and the machine's (busy core-seconds).
 */
export type CpuUse = { byRole: Record<string, number>; services: Record<Service, number>; machineSeconds: number };

/** Core-seconds every core of the machine has spent not idle since boot. */
function machineBusySeconds(): number {
  return cpus().reduce((sum, { times }) => sum + (times.user + times.nice + times.sys + times.irq) / 1000, 0);
}

type Service = 'postgres' | 'redis';
const SERVICE_OF_COMMAND: Record<string, Service> = { postgres: 'postgres', 'redis-server': 'redis' };
/** /proc counts CPU time in clock ticks: USER_HZ, which is 100 on Linux whatever the kernel's own tick. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (ms) each of the machine's Postgres and Redis processes has used so far, by pid, from /proc (empty where there is none). */
function serviceCpuByPid(): Map<string, { service: Service; ms: number }> {
  const used = new Map<string, { service: Service; ms: number }>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return used;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const service = SERVICE_OF_COMMAND[stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))];
      if (!service) continue;
      // Fields after the command: state is the first, utime and stime the 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      used.set(pid, { service, ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND });
    } catch {
      // The process ended between listing and reading.
    }
  }
  return used;
}

/**
 * What the services used between two readings. A process that ended in between (the backend of
 * a closed connection) is missing from the later one and its share is lost: an undercount only.
 */
function serviceCpuSince(before: ReturnType<typeof serviceCpuByPid>, after: ReturnType<typeof serviceCpuByPid>): Record<Service, number> {
  const used: Record<Service, number> = { postgres: 0, redis: 0 };
  for (const [pid, { service, ms }] of after) used[service] += ms - (before.get(pid)?.ms ?? 0);
  return used;
}

/**
 * How long a Postgres backend may keep its counters before pg_stat_database shows them: a busy
 * one reports at most once a second, an idle one within 10 s (PGSTAT_IDLE_INTERVAL, PG 15+).
 */
const STATS_FLUSH_MS = 11_000;

/**
 * What a scenario's processes asked of its database: by role, what they sent (counted on the
 * wire, see pgWireCounter.ts), and pg_stat_database's transactions (committed or rolled back),
 * which also hold autovacuum's and the scenario's own queries on `sql`.
 */
export type DatabaseWork = { byRole: Record<string, PostgresTraffic>; transactions: number };

function trafficSince(before: PostgresTraffic | undefined, after: PostgresTraffic): PostgresTraffic {
  const executions = Object.entries(after.executions)
    .map(([sql, n]) => [sql, n - (before?.executions[sql] ?? 0)] as const)
    .filter(([, n]) => n > 0);
  return { roundTrips: after.roundTrips - (before?.roundTrips ?? 0), executions: Object.fromEntries(executions) };
}

/**
 * A private world for one scenario, like the tests' createTestEnv: its own database (migrated)
 * and Redis prefix. `childEnv` is what every child process of the scenario gets; `cleanup()`
 * stops every child, deletes the keys and drops the database.
 */
export async function createBenchEnv(scenario: string, extraEnv: Record<string, string> = {}) {
  const id = randomBytes(4).toString('hex');
  const dbName = `herald_bench_${id}`;
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${dbName}`);
  const databaseUrl = new URL(POSTGRES_URL);
  databaseUrl.pathname = `/${dbName}`;

  const childEnv: Record<string, string> = {
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL,
    REDIS_PREFIX: `bench_${id}`,
    JWT_SECRET: `bench-secret-${id}-0123456789abcdefghijkl`,
    SERVICE_KEYS: JSON.stringify({ [SERVICE_KEY]: ['*'] }),
    // The production defaults: info logs (each child's go to its log file) and the default sweep.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
    ...extraEnv,
  };
  const config: Config = loadConfig(childEnv);
  const db: Db = createDb(config.DATABASE_URL, { max: 4 });
  await runMigrations(db);
  async function countTransactions(): Promise<number> {
    const [row] = await admin<{ n: string }[]>`select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = ${dbName}`;
    return Number(row!.n);
  }

  const redis: Redis = createRedis(config.REDIS_URL, 'command');
  const children: Child[] = [];

  /** What the scenario's children have sent to Postgres so far, by role (`role#2` for a second child of one role). */
  async function trafficByRole(): Promise<Record<string, PostgresTraffic>> {
    const byRole: Record<string, PostgresTraffic> = {};
    for (const [i, child] of children.entries()) {
      byRole[byRole[child.role] ? `${child.role}#${i}` : child.role] = await child.request<PostgresTraffic>({ type: 'pg-traffic' }, 'pg-traffic', 10_000);
    }
    return byRole;
  }

  /** CPU time (ms) each of the scenario's children has used so far, by role (`role#2` for a second child of one role). */
  async function cpuByRole(): Promise<Record<string, number>> {
    const byRole: Record<string, number> = {};
    for (const [i, child] of children.entries()) {
      const { user, system } = await child.request<{ user: number; system: number }>({ type: 'cpu' }, 'cpu', 10_000);
      byRole[byRole[child.role] !== undefined ? `${child.role}#${i}` : child.role] = (user + system) / 1000;
    }
    return byRole;
  }

  const env = {
    scenario,
    config,
    childEnv,
    db,
    sql: db.$client,
    redis,
    prefix: config.REDIS_PREFIX,
    async spawn(role: string, overrides: Record<string, string> = {}): Promise<Child> {
      const child = await spawnChild(role, { ...childEnv, ...overrides }, `${scenario}-${role}`);
      children.push(child);
      if (role === 'web') await settleWeb(child.url);
      return child;
    },
    /**
     * Every process of the Procfile, as `npm start` runs them (web, router and each channel's
     * worker and the bus listener), each its own child: the figures that need "the whole
     * pipeline" pay for all of them. Returns the web process.
     */
    async spawnPipeline(overrides: Record<string, string> = {}): Promise<Child> {
      const web = await env.spawn('web', overrides);
      for (const role of PIPELINE_WORKERS) await env.spawn(role, overrides);
      return web;
    },
    async stop(child: Child): Promise<void> {
      children.splice(children.indexOf(child), 1);
      await child.stop();
    },
    userToken: (sub: string, tenants: string[]) => signUserToken({ secret: config.JWT_SECRET }, { sub, tenants }, '2h'),
    async seedTenant(tenantId: string): Promise<void> {
      await db.$client`insert into tenants (id, name) values (${tenantId}, ${`Tenant ${tenantId}`}) on conflict do nothing`;
    },
    /** Users `<prefix>00000 …` of one tenant (or of each of a list), in one multi-row insert. */
    async seedUsers(tenantIds: string | string[], userPrefix: string, count: number): Promise<string[]> {
      const ids = Array.from({ length: count }, (_, i) => `${userPrefix}${String(i).padStart(5, '0')}`);
      await db.$client`
        insert into users (id, email, name, tenant_ids)
        select id, id || '@bench.example', id, ${[tenantIds].flat()}::text[] from unnest(${ids}::text[]) as u(id)`;
      return ids;
    },
    /**
     * The database work done while `work` runs: what the scenario's children sent, and
     * the database's transactions, among them the scenario's own queries on `sql` (the caller
     * knows those and takes them off). Waits for the transaction counters to settle before and
     * after, so work finished earlier is not counted and work done meanwhile is.
     */
    async databaseWorkOf<T>(work: () => Promise<T>): Promise<{ result: T; work: DatabaseWork }> {
      await sleep(STATS_FLUSH_MS);
      const transactionsBefore = await countTransactions();
      const { result, byRole } = await env.trafficOf(work);
      await sleep(STATS_FLUSH_MS);
      return { result, work: { byRole, transactions: (await countTransactions()) - transactionsBefore } };
    },
    /** What each child sent Postgres while `work` ran (counted on the wire: no wait for pg_stat_database). */
    async trafficOf<T>(work: () => Promise<T>): Promise<{ result: T; byRole: Record<string, PostgresTraffic> }> {
      const before = await trafficByRole();
      const result = await work();
      const after = await trafficByRole();
      return { result, byRole: Object.fromEntries(Object.entries(after).map(([role, traffic]) => [role, trafficSince(before[role], traffic)])) };
    },
    /**
     * The CPU time used while `work` runs: by each child of the scenario (ms, by role), by the
     * machine's Postgres and Redis processes (ms), and by the whole machine (busy core-seconds,
     * every process — Postgres, Redis, the bench itself — included).
     */
    async cpuOf<T>(work: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
      const [before, servicesBefore, machineBefore] = [await cpuByRole(), serviceCpuByPid(), machineBusySeconds()];
      const result = await work();
      const [after, servicesAfter, machineAfter] = [await cpuByRole(), serviceCpuByPid(), machineBusySeconds()];
      const byRole = Object.fromEntries(Object.entries(after).map(([role, ms]) => [role, ms - (before[role] ?? 0)]));
      return { result, cpu: { byRole, services: serviceCpuSince(servicesBefore, servicesAfter), machineSeconds: machineAfter - machineBefore } };
    },
    async cleanup(): Promise<void> {
      for (const child of children.reverse()) await child.stop().catch(() => {});
      children.length = 0;
      await deleteKeysWithPrefix(redis, config.REDIS_PREFIX).catch(() => {});
      redis.disconnect();
      await closeDb(db).catch(() => {});
      await admin.unsafe(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    },
  };
  return env;
}

/** A keep-alive JSON client for the load generators (open-loop: callers decide the rate). */
export function createJsonClient(baseUrl: string, maxSockets = 64) {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const url = new URL(baseUrl);
  function post(path: string, body: unknown, token = SERVICE_KEY): Promise<{ status: number; body: string }> {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }
  return { post, close: () => agent.destroy() };
}

/** One benchmark scenario: sets up its own world, measures Herald and its baseline, cleans up. */
export type Scenario = {
  name: string;
  /** One line for `npm run bench -- --list`. */
  summary: string;
  run(): Promise<import('./report.ts').Figure[]>;
};
