import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeDb, createDb, type Db } from '../../src/db/client.ts';
import { migrationsFolder, runMigrations } from '../../src/db/migrate.ts';
import { createTestDatabase } from '../helpers/testEnv.ts';

/**
 * Upgrading a database that holds events to `0010_event_outbox`: the events the router had not
 * finished must come out of it still unrouted (in the outbox, for the sweeper), and the routed
 * ones routed. The database is brought to the migration before it with drizzle's own migrator
 * over a copy of drizzle/ whose journal ends there, then upgraded as every process does.
 */

const olderMigrations = mkdtempSync(join(tmpdir(), 'herald-migrations-'));
let database: Awaited<ReturnType<typeof createTestDatabase>>;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase(randomBytes(5).toString('hex'));
  // Two: runMigrations holds one for its advisory lock while the migrator runs on another.
  db = createDb(database.url, { max: 2 });

  cpSync(migrationsFolder, olderMigrations, { recursive: true });
  const journalPath = join(olderMigrations, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const upgrade = journal.entries.findIndex((entry) => entry.tag === '0010_event_outbox');
  expect(upgrade).toBeGreaterThan(0);
  writeFileSync(journalPath, JSON.stringify({ ...journal, entries: journal.entries.slice(0, upgrade) }));
  await migrate(db, { migrationsFolder: olderMigrations });
});

afterAll(async () => {
  await closeDb(db);
  await database.drop();
  rmSync(olderMigrations, { recursive: true, force: true });
});

it('moves the events not routed yet into the outbox, keeps every event, and drops routed_at', async () => {
  const sql = db.$client;
  await sql`insert into tenants (id, name) values ('acme', 'Acme'), ('globex', 'Globex')`;
  await sql`
    insert into events (id, tenant_id, type, envelope, occurred_at, accepted_at, routed_at) values
      ('evt_waiting', 'acme', 'finding_created', '{}', now(), now() - interval '5 minutes', null),
      ('evt_done', 'acme', 'finding_created', '{}', now(), now() - interval '4 minutes', now()),
      ('evt_waiting', 'globex', 'finding_created', '{}', now(), now() - interval '3 minutes', null)`;
  const before = await sql<{ tenant_id: string; id: string; accepted_at: Date }[]>`
    select tenant_id, id, accepted_at from events where routed_at is null order by tenant_id`;

  await runMigrations(db);

  const outbox = await sql<{ tenant_id: string; id: string; accepted_at: Date }[]>`select tenant_id, id, accepted_at from event_outbox order by tenant_id`;
  expect(outbox.map((row) => ({ ...row }))).toEqual(before.map((row) => ({ ...row })));
  expect((await sql`select tenant_id, id from events order by tenant_id, id`).map((row) => `${row.tenant_id}/${row.id}`)).toEqual([
    'acme/evt_done',
    'acme/evt_waiting',
    'globex/evt_waiting',
  ]);
  expect(await sql`select 1 from information_schema.columns where table_name = 'events' and column_name = 'routed_at'`).toHaveLength(0);
});
