import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTED_MARK_SETTINGS, routedMarkStatement } from '../../src/routing/routeEvents.ts';
import { accessPaths, executedGenericPlan, rowsRead, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['event_outbox']);
});
afterAll(() => env?.cleanup());

const waiting = (n: number) => Array.from({ length: n }, (_, i) => ({ tenantId: 'acme', id: `wait_${i + 1}` }));
const outboxIds = async () => (await env.db.$client<{ id: string }[]>`select tenant_id || '/' || id as id from event_outbox`).map((r) => r.id).sort();

// Why the mark is planned this way is ROUTED_MARK_SETTINGS's comment: the outbox's statistics
// always describe a table that is gone. Here they are made from two rows, then 301 wait.
describe('marking events routed, planned from an outbox of two rows', () => {
  it('deletes exactly the named events, looking each up by its key', async () => {
    const pg = env.db.$client;
    await pg`insert into event_outbox (tenant_id, id) values ('acme', 'first_1'), ('acme', 'first_2')`;
    await pg`analyze event_outbox`;
    await pg`insert into event_outbox (tenant_id, id) select 'acme', 'wait_' || n from generate_series(1, 300) as n`;
    // The same id in another tenant is another event (SPEC §2): globex/wait_2 is not acme's.
    await pg`insert into event_outbox (tenant_id, id) values ('globex', 'wait_2')`;

    const routed = [{ tenantId: 'acme', id: 'first_1' }, ...waiting(40).filter((_, i) => i !== 1), { tenantId: 'globex', id: 'wait_2' }];
    // As the router's session for the mark plans it: once, and kept (ROUTED_MARK_SETTINGS).
    const plan = await executedGenericPlan(env.db, routedMarkStatement(routed), { settings: ROUTED_MARK_SETTINGS });

    expect(accessPaths(plan, 'event_outbox')).toEqual(['Index Scan using event_outbox_tenant_id_id_pk', 'Tid Scan']);
    // A probe per event named, then each one found once more to delete it.
    expect(rowsRead(plan, 'event_outbox')).toBeLessThanOrEqual(2 * routed.length);
    expect(await outboxIds()).toEqual(['acme/first_2', 'acme/wait_2', ...waiting(300).slice(40).map((e) => `acme/${e.id}`)].sort());
  });
});
