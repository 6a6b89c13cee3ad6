import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, createDb } from '../../src/db/client.ts';
import { completeEnvelope, eventEnvelopeSchema } from '../../src/intake/eventEnvelope.ts';
import { storeEvents, storeEventsStatement } from '../../src/intake/storeEvents.ts';
import { accessPaths, executedPlan, rowsRead, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['tenants', 'events', 'event_outbox']);
});
afterAll(() => env?.cleanup());

const TENANTS = 10_000;

const envelope = (tenantId: string, id: string) => completeEnvelope(eventEnvelopeSchema.parse({ id, tenantId, type: 'finding_created', severity: 'high' }));

// Every intake INSERT checks its events' tenants. Joined with the input — which Postgres takes
// for 100 rows, whatever it holds — the tenants table was hashed whole for every INSERT once a
// deployment had a few thousand tenants; the intake's hot path then cost what the tenant list
// holds, not what the request carries.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'settled', analyze: true },
])('an intake INSERT reads only the tenants of its events (statistics: $statistics)', ({ analyze }) => {
  it('stores the events of known tenants, refuses the others, and probes the tenants by key', async () => {
    const p = analyze ? 'a' : 'b';
    await env.db.$client`insert into tenants (id, name) select ${p} || n, 'Tenant ' || n from generate_series(1, ${TENANTS}) as n`;
    if (analyze) await env.db.$client`analyze tenants`;

    const stored = await storeEvents(env.db, [envelope(`${p}7`, 'e1'), envelope(`${p}_unknown`, 'e2'), envelope(`${p}7`, 'e1'), envelope(`${p}9999`, 'e3')]);
    expect(stored.outcomes).toEqual(['accepted', 'unknown_tenant', 'duplicate', 'accepted']);
    const rows = await env.db.$client<{ key: string }[]>`
      select e.tenant_id || '/' || e.id as key from events e join event_outbox o using (tenant_id, id) where e.tenant_id like ${`${p}%`} order by key`;
    expect(rows.map((r) => r.key)).toEqual([`${p}7/e1`, `${p}9999/e3`]);

    const plan = await executedPlan(env.db, storeEventsStatement([envelope(`${p}8`, 'e4'), envelope(`${p}_unknown`, 'e5')]));
    expect(accessPaths(plan, 'tenants')).not.toContain('Seq Scan');
    expect(rowsRead(plan, 'tenants')).toBeLessThanOrEqual(2);
  });
});

// Single events arrive one INSERT each; planned afresh every time, each cost Postgres a plan.
describe('an intake INSERT on one connection', () => {
  it('is planned once: from its sixth run on Postgres reuses a generic plan, whatever the number of events', async () => {
    const db = createDb(env.config.DATABASE_URL, { max: 1 });
    try {
      await env.db.$client`insert into tenants (id, name) values ('plan_once', 'Plan once') on conflict do nothing`;
      for (let run = 0; run < 12; run++) {
        const events = Array.from({ length: 1 + (run % 3) }, (_, i) => envelope('plan_once', `once_${run}_${i}`));
        expect((await storeEvents(db, events)).outcomes).toEqual(events.map(() => 'accepted'));
      }
      const plans = await db.$client<{ generic: number; custom: number }[]>`
        select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements
        where not from_sql and statement like ${'%insert into events%'}`;
      expect(plans).toEqual([{ generic: 7, custom: 5 }]);
    } finally {
      await closeDb(db);
    }
  });
});
