import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { databaseBefore } from '../helpers/olderSchema.ts';

/**
 * Upgrading a database that holds events to `0010_event_outbox`: the events the router had not
 * finished must come out of it still unrouted (in the outbox, for the sweeper), and the routed
 * ones routed.
 */

let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  ({ db, drop } = await databaseBefore('0010_event_outbox'));
});

afterAll(async () => {
  await drop?.();
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
