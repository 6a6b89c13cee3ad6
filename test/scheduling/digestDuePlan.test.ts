import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestDueStatement } from '../../src/scheduling/digestWindows.ts';
import { accessPaths, executedPlan, rowsRead, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['deliveries']);
});
afterAll(() => env?.cleanup());

const HISTORY = 30_000;

/**
 * A deployment's deliveries (delivered emails, some of them digests' members long sent), then a
 * digest window's carrier with the three deliveries it carries, waiting for the window to close.
 */
async function tableWithWindow(prefix: string, analyze: boolean) {
  const pg = env.db.$client;
  await pg`
    insert into deliveries (event_id, tenant_id, channel, destination, state, digest_id, carried_by)
    select 'e_' || n, 'acme', 'email', ${prefix} || '_history_' || n, 'delivered',
           case when n % 10 = 0 then gen_random_uuid() end, case when n % 10 = 0 then gen_random_uuid() end
    from generate_series(1, ${HISTORY}) as n`;
  if (analyze) await pg`analyze deliveries`;
  const window = { id: randomUUID(), carrierId: '' };
  const [carrier] = await pg<{ id: string }[]>`
    insert into deliveries (event_id, tenant_id, channel, destination, state, digest_id, not_before)
    values ('e_carrier', 'acme', 'email', ${`${prefix}_carrier`}, 'scheduled', ${window.id}, now() + interval '1 hour') returning id::text`;
  window.carrierId = carrier!.id;
  await pg`
    insert into deliveries (event_id, tenant_id, channel, destination, state, digest_id, carried_by, not_before)
    select 'e_member_' || n, 'acme', 'email', ${prefix} || '_member_' || n, 'scheduled', ${window.id}::uuid, ${window.carrierId}::uuid, now() + interval '1 hour'
    from generate_series(1, 3) as n`;
  return window;
}

// Joining a digest moves all its deliveries to the window's closing time, in the routing
// transaction while the window's row is locked. deliveries has no index on digest_id: asked for
// by digest_id alone, every join read the whole table.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'settled', analyze: true },
])('moving a digest’s deliveries to its closing time reads only them (statistics: $statistics)', ({ analyze }) => {
  it('moves the carrier and what it carries, by key and by the carried_by index', async () => {
    const prefix = analyze ? 'a' : 'b';
    const window = await tableWithWindow(prefix, analyze);
    const closesAt = new Date(Date.now() + 60_000);

    const plan = await executedPlan(env.db, digestDueStatement(window, closesAt));
    expect(accessPaths(plan, 'deliveries')).not.toContain('Seq Scan');
    expect(rowsRead(plan, 'deliveries')).toBeLessThanOrEqual(4);

    const due = await env.db.$client<{ destination: string; due: boolean }[]>`
      select destination, not_before = ${closesAt.toISOString()}::timestamptz as due from deliveries
      where destination like ${`${prefix}\\_%`} and destination not like ${`${prefix}\\_history\\_%`} order by destination`;
    expect(due).toEqual([
      { destination: `${prefix}_carrier`, due: true },
      ...[1, 2, 3].map((n) => ({ destination: `${prefix}_member_${n}`, due: true })),
    ]);
    const [untouched] = await env.db.$client<{ n: number }[]>`select count(*)::int as n from deliveries where not_before is not null and destination like ${`${prefix}\\_history\\_%`}`;
    expect(untouched!.n).toBe(0);
  });
});
