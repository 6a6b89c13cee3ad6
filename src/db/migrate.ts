import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type { Db } from './client.ts';

/** drizzle/: the committed SQL migrations and their journal. */
export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Applies the committed SQL migrations in drizzle/. Safe to run from several processes at once. */
export async function runMigrations(db: Db): Promise<void> {
  // Serialise concurrent starters (web + workers under `npm start`) on an advisory lock.
  await db.$client.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(7261011)`;
    await migrate(db, { migrationsFolder });
  });
}
