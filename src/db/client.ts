import postgres from 'postgres';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import * as schema from './schema.ts';

export type Db = PostgresJsDatabase<typeof schema> & { $client: postgres.Sql };

export type DbOptions = {
  /** Connections in the pool. */
  max?: number;
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
    connection: { statement_timeout: 10_000, application_name: 'herald' },
  });
  return drizzle(client, { schema }) as Db;
}

export async function closeDb(db: Db): Promise<void> {
  await db.$client.end({ timeout: 5 });
}
