import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryStatement } from '../../src/routing/directory.ts';
import { accessPaths, executedGenericPlan, executedPlan, rowsRead, statisticsByHand, type PlanNode } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['users', 'teams', 'tenants']);
});
afterAll(() => env?.cleanup());

const TENANTS = 400;
const USERS = 40_000;

/**
 * A large directory: 40,000 users over 400 tenants, each a `member` of their tenant and one in
 * fifty an `admin` too, and a team per tenant of two of its users.
 */
async function largeDirectory(prefix: string, analyze: boolean): Promise<void> {
  await env.db.$client`insert into tenants (id, name) select ${prefix} || n, 'T' || n from generate_series(0, ${TENANTS - 1}) as n`;
  await env.db.$client`
    insert into users (id, email, name, tenant_ids, roles)
    select ${prefix} || '_u' || n, n || '@example.com', 'User ' || n, array[${prefix} || (n % ${TENANTS})],
      jsonb_build_object(${prefix} || (n % ${TENANTS}), case when n % 50 = 0 then '["member", "admin"]'::jsonb else '["member"]'::jsonb end)
    from generate_series(0, ${USERS - 1}) as n`;
  await env.db.$client`
    insert into teams (id, tenant_id, name, member_ids)
    select ${prefix} || '_team' || n, ${prefix} || n, 'Team ' || n, array[${prefix} || '_u' || n, ${prefix} || '_u' || (n + ${TENANTS})]
    from generate_series(0, ${TENANTS - 1}) as n`;
  // The index as it settles: GIN queues new entries in a pending list, which autovacuum folds in.
  await env.db.$client`select gin_clean_pending_list('users_roles_idx')`;
  if (analyze) await env.db.$client`analyze users, teams, tenants`;
}

/** Blocks a plan node read from shared buffers (hit or read). */
const blocksOf = (node: PlanNode) => (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0);

// A small pass reads the directory on a generic plan, kept until an ANALYZE (RouteDeps.genericPlanDb).
// One made while the tables held a few rows scanned the users whole — cheapest for a page — and
// went on doing so once 100,000 users had joined (the bench's large-directory step: Postgres CPU
// per event four to five times the step without them). Runs first, on the file's still nearly
// empty tables.
describe('the directory read’s generic plan made while the directory was nearly empty (statistics: settled)', () => {
  it('finds the users it names by index all the same', async () => {
    // Two tenants of two users each; u0 an admin of tiny0; a team of u1 and u3 in tiny1.
    const pg = env.db.$client;
    await pg`insert into tenants (id, name) values ('tiny0', 'T0'), ('tiny1', 'T1')`;
    await pg`
      insert into users (id, email, name, tenant_ids, roles)
      select 'tiny_u' || n, n || '@tiny.example', 'User ' || n, array['tiny' || (n % 2)],
        jsonb_build_object('tiny' || (n % 2), case when n = 0 then '["member", "admin"]'::jsonb else '["member"]'::jsonb end)
      from generate_series(0, 3) as n`;
    await pg`insert into teams (id, tenant_id, name, member_ids) values ('tiny_team1', 'tiny1', 'Team', array['tiny_u1', 'tiny_u3'])`;
    await pg`analyze users, teams, tenants`;
    const statement = directoryStatement({
      userIds: ['tiny_u0'],
      teamIds: ['tiny_team1'],
      roleHolders: [JSON.stringify({ tiny0: ['admin'] })],
      tenantIds: ['tiny0', 'tiny1'],
    });
    const plan = await executedGenericPlan(env.db, statement);
    for (const table of ['users', 'teams', 'tenants']) expect(accessPaths(plan, table)).not.toContain('Seq Scan');
    const [read] = await env.db.execute<{ users: { id: string }[] }>(statement);
    // u0 listed (and the admin), u1 and u3 the team's members.
    expect(read!.users.map((u) => u.id).sort()).toEqual(['tiny_u0', 'tiny_u1', 'tiny_u3']);
  });
});

// Every routing pass reads the users its events and rules name. OR-ing the three ways a user is
// named (listed, a member of a named team, a holder of a named role) gave the planner no index:
// every pass read the whole users table. And the roles index kept keys and values apart, so a
// role holder's lookup walked the entries of every holder of a role of that name.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'settled', analyze: true },
])('a routing pass reads only the users it names from a large directory (statistics: $statistics)', ({ analyze }) => {
  it('finds listed users, team members and role holders by index, never reading the whole table', async () => {
    const p = analyze ? 'a' : 'b';
    await largeDirectory(p, analyze);
    const statement = directoryStatement({
      userIds: [`${p}_u1`, `${p}_u2`, `${p}_nobody`],
      teamIds: [`${p}_team3`],
      roleHolders: [JSON.stringify({ [`${p}50`]: ['member'] })],
      tenantIds: [`${p}1`, `${p}50`],
    });
    const [read] = await env.db.execute<{ users: { id: string }[]; teams: { id: string; memberIds: string[] }[]; versions: { id: string }[] }>(statement);
    const members50 = Array.from({ length: USERS / TENANTS }, (_, i) => 50 + i * TENANTS);
    const expected = [1, 2, 3, 3 + TENANTS, ...members50].map((n) => `${p}_u${n}`);
    expect(read!.users.map((u) => u.id).sort()).toEqual(expected.sort());
    expect(read!.teams).toEqual([expect.objectContaining({ id: `${p}_team3`, memberIds: [`${p}_u3`, `${p}_u${3 + TENANTS}`] })]);
    expect(read!.versions.map((v) => v.id).sort()).toEqual([`${p}1`, `${p}50`]);

    // As planned for these arrays, and as the generic plan a small pass runs (RouteDeps.genericPlanDb).
    const plans = [await executedPlan(env.db, statement, { buffers: true }), await executedGenericPlan(env.db, statement, { buffers: true })];
    for (const plan of plans) {
      expect(accessPaths(plan, 'users')).not.toContain('Seq Scan');
      // Each named user is read once to be found (the role holders by the roles index) and once to be fetched.
      expect(rowsRead(plan, 'users')).toBeLessThanOrEqual(2 * expected.length);
      // The holders of one role in one tenant are one entry of the roles index, not the intersection of
      // the entries of the tenant's 100 users and of the 40,000 `member`s of every tenant.
      const roleLookup = plan.filter((n) => n['Index Name'] === 'users_roles_idx');
      expect(roleLookup).toHaveLength(1);
      expect(blocksOf(roleLookup[0]!)).toBeLessThanOrEqual(4);
    }
  });
});
