import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { PgDialect } from 'drizzle-orm/pg-core';
import * as schema from './schema.ts';
import { cacheStatementText } from './statementText.ts';

export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

export type DbOptions = {
  /** Connections in the pool. */
  max?: number;
  /** Settings of every session, sent as it connects (a connection whose commits need not wait for the disk, say). */
  settings?: Record<string, string>;
};

/**
 * A pooled Postgres client. Connect and statement timeouts are short on purpose: when Postgres
 * is down, intake must answer 503 within seconds rather than hold the publisher.
 */
export function createDb(url: string, options: DbOptions = {}): Db {
  const client = postgres(url, {
    max: options.max ?? 10,
    connect_timeout: 3,
    // After failed connects postgres.js waits before the next try, by default up to 20 s, and a
    // query queued on that connection waits with it: intake would hang instead of answering 503,
    // and stay down for as long after Postgres is back. Connects happen only when a query needs
    // one, so a short wait (at most 1 s) does not hammer a server that is down.
    backoff: (retries: number) => Math.min(0.1 * retries, 1),
    idle_timeout: 30,
    onnotice: () => {},
    connection: { statement_timeout: 10_000, application_name: 'herald', ...options.settings },
  });
  readArrayTypesOnce(client);
  const db = drizzle(preparedStatements(client), { schema }) as Db;
  // The one dialect the database, its sessions and its transactions build statements with
  // (drizzle marks the field internal; it has no option to hand one in).
  cacheStatementText((db as unknown as { dialect: PgDialect }).dialect);
  return db;
}

/**
 * postgres.js reads the server's array types (a pg_type query) on every new connection before
 * its first statement. The types are the server's, the same for every connection, and postgres.js
 * keeps them in the pool's shared options: once one connection has read them, the connections
 * opened later (every reconnect after an outage, all at once) skip the read and run their first
 * statement straight away. (That read's failures are mended in patches/postgres+3.4.9.patch: its
 * rejection went unheard and ended the process, porsager/postgres#1192 and #1223, and a
 * connection that reconnected with the read in flight could open without the types.)
 */
function readArrayTypesOnce(client: postgres.Sql): void {
  const options = client.options as unknown as { fetch_types: boolean; shared: { typeArrayMap: Record<string, number> } };
  const wanted = options.fetch_types;
  Object.defineProperty(options, 'fetch_types', { get: () => wanted && Object.keys(options.shared.typeArrayMap).length === 0 });
}

/**
 * Statements with at most this many parameters run as prepared statements. The texts of those
 * are fixed by the code (arrays travel as one parameter each), so each connection prepares a
 * bounded set; a longer list spelled out as `$1, $2, …` varies with its length and stays unprepared.
 * The routing write (deliveries and inbox rows, 20 arrays) must fit: at 16 it went unprepared,
 * parsed and planned on every pass and sent in two round trips, which put 2–3 ms on the p50 of
 * publish → frame at 200 events/s.
 */
const PREPARE_MAX_PARAMETERS = 32;

/**
 * Drizzle runs every statement it did not name with `prepare: false`, and postgres.js then sends
 * each statement that has parameters in two round trips: Parse + Describe to learn the
 * parameters' types, and only after the answer Bind + Execute. A prepared statement is described
 * once per connection and afterwards costs one round trip. On the hot path (intake's INSERT,
 * every statement of a routing pass) that halves the round trips, and with them the wake-ups of
 * Postgres and of this process. The client drizzle gets — and every transaction or savepoint
 * client handed out from it — prepares the statements it runs, as postgres.js does by default.
 */
function preparedStatements<T extends postgres.Sql>(client: T): T {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        return (query: string, parameters?: unknown[], options?: { prepare?: boolean }) =>
          target.unsafe(query, parameters as never, { ...options, prepare: options?.prepare || (parameters?.length ?? 0) <= PREPARE_MAX_PARAMETERS });
      }
      if (property === 'begin' || property === 'savepoint') {
        const open = Reflect.get(target, property, receiver) as (...args: unknown[]) => unknown;
        return (...args: unknown[]) => {
          const run = args.pop() as (tx: postgres.Sql) => unknown;
          return open(...args, (tx: postgres.Sql) => run(preparedStatements(tx)));
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * Session settings under which every prepared statement is planned once per connection (a
 * generic plan) instead of at every execution. Postgres keeps planning anew a statement whose
 * array parameters make each custom plan look cheaper than the generic one — for a few rows,
 * always — and the planning can cost more than running the statement. A generic plan assumes an
 * array parameter holds about ten elements, so only statements that read rows by key, or whose
 * arrays stay short, belong on such a connection.
 *
 * A generic plan is kept until the statistics of a table it reads change (an ANALYZE), and one
 * made while a table was nearly empty scans it whole — cheapest for a page or two — and goes on
 * doing so as the table grows, until autovacuum analyzes it again: on a new install, a minute or
 * more of statements reading every row. A plan made at each execution sees the table's current
 * size; a kept one cannot, so these sessions rule out sequential scans wherever an index can
 * answer (`enable_seqscan` off only makes them cost more: a statement no index can serve still runs).
 *
 * That cost (10^10 for each sequential scan left) is far past the thresholds at which Postgres
 * compiles a statement with JIT, so such a statement was compiled at every execution: the
 * array-type read postgres.js runs on a pool's first connection, which scans pg_type, took
 * ~200 ms of Postgres's CPU instead of 0.4 (pg_stat_statements, every worker's start). Herald's
 * statements read and write rows by key; none runs long enough to repay a compile, so JIT is off.
 */
export const GENERIC_PLAN_SETTINGS = { plan_cache_mode: 'force_generic_plan', enable_seqscan: 'off', jit: 'off' };

/**
 * A pool whose first connection is open, for a role to use: it fails at start rather than at its
 * first job, and the first connection reads the server's array types (readArrayTypesOnce) then,
 * while Postgres is known to be up — a process has just applied its migrations — rather than in
 * a job's first statement, where an outage could cut it. Every later connection skips the read.
 * (A cut read used to leave a connection that sent every array as text — `malformed array
 * literal` — so that a router whose small-pass connection first opened as Postgres stopped routed
 * nothing after it came back; patches/postgres+3.4.9.patch mends that, test/db/client.test.ts.)
 * The API and the bus listener, built to start and answer while Postgres is away, use connectSoon.
 */
export async function openDb(url: string, options: DbOptions = {}): Promise<Db> {
  const db = createDb(url, options);
  try {
    await db.$client`select 1`;
  } catch (err) {
    await closeDb(db);
    throw err;
  }
  return db;
}

/**
 * Opens the pool's first connection without waiting for it, for a process that starts and
 * answers while Postgres is away (the API's 503s, the bus listener's unacknowledged messages):
 * with Postgres there, as it is when a process has just applied its migrations, the array types
 * are read now, as openDb reads them; without it, the first statement connects.
 */
export function connectSoon(db: Db): Db {
  db.$client`select 1`.catch(() => {});
  return db;
}

export async function closeDb(db: Db): Promise<void> {
  await db.$client.end({ timeout: 5 });
}
