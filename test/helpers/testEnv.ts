import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { signUserToken } from '../../src/auth/userTokens.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { closeDb, createDb, type Db } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { startWeb, type Web } from '../../src/http/web.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import { createRedis, deleteKeysWithPrefix, keyServers, slotPrefix, type RedisClient } from '../../src/redis.ts';
import { startInapp } from '../../workers/roles/inapp.ts';
import type { Role } from '../../workers/roles/role.ts';
import { startRouter } from '../../workers/roles/router.ts';

const DEFAULT_POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Where a test world lives: the machine's shared servers by default, or throwaway ones (fault tests). */
export type TestServers = { postgresUrl: string; redisUrl: string };

export const SERVICE_KEY = 'test-service-key-all-tenants-0001';
export const ACME_KEY = 'test-service-key-acme-only-000001';

export type TestEnv = Awaited<ReturnType<typeof createTestEnv>>;

/** Closes already under way (a pool ending, a backend exiting) get this long to finish before they count as leaks. */
const LEAK_SETTLE_MS = 3_000;

/** BullMQ names a worker's connection `<prefix>:<base64 queue name>` (CLIENT SETNAME), on every server it uses. */
async function workersOnPrefix(redis: RedisClient, prefix: string): Promise<string[]> {
  const named = async () =>
    (await Promise.all(keyServers(redis).map((server) => server.client('LIST'))))
      .flatMap((list) => String(list).split('\n'))
      .map((line) => / name=(\S*)/.exec(line)?.[1] ?? '')
      .filter((name) => name.startsWith(`${prefix}:`));
  return settled(named);
}

/** Sessions connected to the file's database (the admin connection is to another one). */
async function connectionsTo(admin: postgres.Sql, dbName: string): Promise<number> {
  return (await settled(async () => [...(await admin`select pid from pg_stat_activity where datname = ${dbName}`)])).length;
}

/** Polls `list` until it is empty or LEAK_SETTLE_MS have passed; returns what is left. */
async function settled<T>(list: () => Promise<T[]>): Promise<T[]> {
  const deadline = Date.now() + LEAK_SETTLE_MS;
  let left = await list();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = await list();
  }
  return left;
}

/**
 * An empty database of its own on the server at `postgresUrl`, named with `id`. `drop()` says
 * how many connections to it were still open (a leak, for the caller to judge), then drops it.
 */
export async function createTestDatabase(id: string, postgresUrl: string = DEFAULT_POSTGRES_URL) {
  const name = `herald_test_${id}`;
  const admin = postgres(postgresUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop(): Promise<{ openConnections: number }> {
      const openConnections = await connectionsTo(admin, name);
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
      return { openConnections };
    },
  };
}

/**
 * A private world for one test file: its own Postgres database (migrated from drizzle/) and its
 * own Redis prefix, so files run in parallel without seeing each other. Everything started
 * through it is closed by `cleanup()`, and a leftover is an error: `cleanup()` throws when a
 * connection to the file's database or a queue worker on its prefix is still open once
 * everything is closed (test/helpers/leakCheck.ts catches sockets and servers of any kind).
 */
export async function createTestEnv(env: Record<string, string> = {}, servers: TestServers = { postgresUrl: DEFAULT_POSTGRES_URL, redisUrl: DEFAULT_REDIS_URL }) {
  const POSTGRES_URL = servers.postgresUrl;
  const REDIS_URL = servers.redisUrl;
  const id = randomBytes(5).toString('hex');
  const database = await createTestDatabase(id, POSTGRES_URL);

  const config: Config = loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL,
    REDIS_PREFIX: `test_${id}`,
    JWT_SECRET: `test-secret-${id}-0123456789abcdefghij`,
    SERVICE_KEYS: JSON.stringify({ [SERVICE_KEY]: ['*'], [ACME_KEY]: ['acme'] }),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const logger = createLogger(config.LOG_LEVEL, 'test');
  const db = createDb(config.DATABASE_URL, { max: 4 });
  await runMigrations(db);
  const redis = createRedis(config, 'command');

  const started: { close(): Promise<void> }[] = [];
  /** What each started thing is, for the message of one that will not close. */
  const labels = new WeakMap<object, string>();
  function track<T extends { close(): Promise<void> }>(thing: T, label: string): T {
    started.push(thing);
    labels.set(thing, label);
    return thing;
  }
  /**
   * Closes a started thing; one still closing after a while says so (with what keeps the process
   * busy), so a hook that times out names what it was waiting for.
   */
  async function closeNamed(thing: { close(): Promise<void> }): Promise<void> {
    const startedAt = Date.now();
    const slow = setInterval(() => {
      const waiting = `${Math.round((Date.now() - startedAt) / 1000)} s`;
      console.warn(`test env: ${labels.get(thing) ?? 'a started thing'} still closing after ${waiting}; active: ${process.getActiveResourcesInfo().join(', ')}`);
    }, 15_000);
    try {
      await thing.close();
    } finally {
      clearInterval(slow);
    }
  }

  const testEnv = {
    config,
    logger,
    db,
    redis,
    /** An API instance on an ephemeral port. */
    startWeb: async (overrides: Partial<Config> = {}): Promise<Web> => track(await startWeb({ ...config, ...overrides }, logger, 0), 'web'),
    startRouter: async (overrides: Partial<Config> = {}): Promise<Role> => track(await startRouter({ ...config, ...overrides }, logger), 'router'),
    startInapp: async (): Promise<Role> => track(await startInapp(config, logger), 'inapp'),
    /** Any worker role (workers/roles/*), as its process would start it. */
    startRole: async (start: (config: Config, logger: Logger) => Promise<Role>, overrides: Partial<Config> = {}): Promise<Role> =>
      track(await start({ ...config, ...overrides }, logger), `role ${start.name}`),
    /** Stops one started thing early (a killed worker, a second instance going away). */
    async stop(thing: { close(): Promise<void> }): Promise<void> {
      const index = started.indexOf(thing);
      if (index === -1) throw new Error('stop(): this was not started through this test env (or was stopped already)');
      started.splice(index, 1);
      await closeNamed(thing);
    },
    userToken: (sub: string, tenants: string[], role: 'user' | 'admin' = 'user') =>
      signUserToken({ secret: config.JWT_SECRET }, { sub, tenants, role }),
    async cleanup(): Promise<void> {
      for (const thing of started.splice(0).reverse()) await closeNamed(thing);
      const workers = await workersOnPrefix(redis, slotPrefix(config));
      await deleteKeysWithPrefix(redis, config.REDIS_PREFIX);
      redis.disconnect();
      await closeDb(db);
      const { openConnections: connections } = await database.drop();
      const leaks = [
        ...(workers.length > 0 ? [`${workers.length} queue worker connection(s) on Redis prefix ${config.REDIS_PREFIX} (${workers.join(", ")})`] : []),
        ...(connections > 0 ? [`${connections} Postgres connection(s) to ${database.name}`] : []),
      ];
      if (leaks.length > 0) throw new Error(`test env cleanup: still open after everything was closed: ${leaks.join('; ')}`);
    },
  };
  return testEnv;
}
