import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { closeDb, createDb, type Db } from '../../src/db/client.ts';
import { migrationsFolder } from '../../src/db/migrate.ts';
import { createTestDatabase } from './testEnv.ts';

/**
 * A database of its own brought to the migration before `tag`, as a deployment of the version
 * before would have it: drizzle's own migrator over a copy of drizzle/ whose journal ends there.
 * The test then upgrades it as every process does (runMigrations).
 */
export async function databaseBefore(tag: string): Promise<{ db: Db; drop: () => Promise<void> }> {
  const olderMigrations = mkdtempSync(join(tmpdir(), 'herald-migrations-'));
  const database = await createTestDatabase(randomBytes(5).toString('hex'));
  // Two: runMigrations holds one for its advisory lock while the migrator runs on another.
  const db = createDb(database.url, { max: 2 });
  const drop = async () => {
    await closeDb(db);
    await database.drop();
    rmSync(olderMigrations, { recursive: true, force: true });
  };
  try {
    cpSync(migrationsFolder, olderMigrations, { recursive: true });
    const journalPath = join(olderMigrations, 'meta', '_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
    const upgrade = journal.entries.findIndex((entry) => entry.tag === tag);
    if (upgrade <= 0) throw new Error(`no migration ${tag} with one before it in drizzle/`);
    writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, upgrade) }));
    await migrate(db, { migrationsFolder: olderMigrations });
    return { db, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}
