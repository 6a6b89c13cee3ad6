import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { earlierPendingDeliveries } from '../../src/routing/routeEvents.ts';
import { accessPaths, executedGenericPlan, executedPlan, statisticsByHand } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await statisticsByHand(env.db, ['deliveries']);
});
afterAll(() => env?.cleanup());

type Row = { event_id: string; channel: string; destination: string; state: string; carried_by?: string | null };

async function insert(tenantId: string, rows: Row[]): Promise<void> {
  await env.db.$client`
    insert into deliveries (tenant_id, event_id, channel, destination, state, carried_by)
    select ${tenantId}, r.event_id, r.channel, r.destination, r.state, r.carried_by::uuid
    from json_to_recordset(${JSON.stringify(rows)}::json) as r(event_id text, channel text, destination text, state text, carried_by text)`;
}

/** `count` rows of one kind, for the table around the events under test. */
const many = (count: number, row: (i: number) => Row): Row[] => Array.from({ length: count }, (_, i) => row(i));

/**
 * An event as a re-run finds it: a fan-out's in-app rows (one of them still pending), and of
 * its other deliveries the two still waiting for a job — a pending webhook, an email scheduled
 * for later — beside a digest member carried by another delivery, a sent Slack post and a
 * failed Teams post, which have no job to get.
 */
function eventRows(eventId: string, carrierId: string): { rows: Row[]; waiting: string[] } {
  return {
    rows: [
      ...many(1_000, (i) => ({ event_id: eventId, channel: 'inapp', destination: `u${i}`, state: i === 0 ? 'pending' : 'sent' })),
      { event_id: eventId, channel: 'webhook', destination: 'hook', state: 'pending' },
      { event_id: eventId, channel: 'email', destination: 'u1', state: 'scheduled' },
      { event_id: eventId, channel: 'email', destination: 'u2', state: 'scheduled', carried_by: carrierId },
      { event_id: eventId, channel: 'slack', destination: 'u3', state: 'sent' },
      { event_id: eventId, channel: 'teams', destination: 'u4', state: 'failed' },
    ],
    waiting: [`${eventId}/email/u1`, `${eventId}/webhook/hook`],
  };
}

// A small pass's routing write runs a generic plan, kept until an ANALYZE (RouteDeps.genericPlanDb):
// one made on a new install, while the table held a row or two, scanned it whole — cheapest for a
// page — and went on doing so as it grew (GENERIC_PLAN_SETTINGS). Runs first, on the empty table.
describe('the routing write’s generic plan made while the deliveries table was nearly empty (statistics: settled)', () => {
  it('probes each event on the unique index all the same', async () => {
    await insert('acme', [{ event_id: 'new_a', channel: 'webhook', destination: 'hook', state: 'pending' }]);
    await env.db.$client`analyze deliveries`;
    const read = earlierPendingDeliveries(['acme'], ['new_a']);
    const plan = await executedGenericPlan(env.db, read);
    expect(accessPaths(plan, 'deliveries')).toEqual(['Index Scan using deliveries_event_channel_destination_uq']);
    const rows = await env.db.execute<{ event_id: string; channel: string }>(read);
    expect(rows.map((r) => [r.event_id, r.channel])).toEqual([['new_a', 'webhook']]);
  });
});

// A routing pass reads what an earlier run of its events left waiting for a job. Filtering the
// events' rows by state left the plan to the statistics: never analyzed, the table was read
// through its index of pending rows, all of them (a receiver down leaves thousands); analyzed,
// an event's every row was read, a fan-out's in-app thousands included, to keep its few others.
describe.each([
  { statistics: 'none taken yet', analyze: false },
  { statistics: 'taken before a backlog of pending webhooks', analyze: true },
])('the routing write reads only the waiting deliveries of its events (statistics: $statistics)', ({ analyze }) => {
  it('probes each event on the unique index past its in-app rows, never walking pending or in-app rows it does not return', async () => {
    const prefix = analyze ? 'stats' : 'nostats';
    await insert('acme', many(2_000, (i) => ({ event_id: `${prefix}_done_${i}`, channel: 'inapp', destination: 'u1', state: 'delivered' })));
    if (analyze) await env.db.$client`analyze deliveries`;
    // A receiver down: thousands of webhook deliveries of other events wait for their retries.
    await insert('acme', many(3_000, (i) => ({ event_id: `${prefix}_backlog_${i}`, channel: 'webhook', destination: 'hook', state: 'pending' })));
    const [carrier] = await env.db.$client<{ id: string }[]>`
      insert into deliveries (tenant_id, event_id, channel, destination, state) values ('acme', ${`${prefix}_digest`}, 'email', 'u2', 'pending') returning id`;
    const events = [eventRows(`${prefix}_a`, carrier!.id), eventRows(`${prefix}_b`, carrier!.id)];
    await insert('acme', events.flatMap((e) => e.rows));
    // The same event id in another tenant is another event.
    await insert('other', [{ event_id: `${prefix}_a`, channel: 'webhook', destination: 'hook', state: 'pending' }]);
    // An event with in-app deliveries only has nothing waiting.
    await insert('acme', many(10, (i) => ({ event_id: `${prefix}_inapp_only`, channel: 'inapp', destination: `u${i}`, state: 'pending' })));

    const eventIds = [`${prefix}_a`, `${prefix}_b`, `${prefix}_inapp_only`, `${prefix}_a`];
    const read = earlierPendingDeliveries(eventIds.map(() => 'acme'), eventIds);
    const rows = await env.db.execute<{ event_id: string; channel: string; id: string }>(read);
    const found = await env.db.$client<{ key: string }[]>`
      select event_id || '/' || channel || '/' || destination as key from deliveries where id = any(${rows.map((r) => r.id)}::uuid[]) order by key`;
    expect(found.map((r) => r.key)).toEqual(events.flatMap((e) => e.waiting).sort());
    // Listed twice, an event's deliveries still come once.
    expect(rows).toHaveLength(found.length);

    // As planned for these arrays, and as the generic plan a small pass runs (RouteDeps.genericPlanDb).
    for (const plan of [await executedPlan(env.db, read), await executedGenericPlan(env.db, read)]) {
      expect(accessPaths(plan, 'deliveries')).toEqual(['Index Scan using deliveries_event_channel_destination_uq']);
      // The probes seek past the in-app channel, so an event's in-app rows (a fan-out's thousands) are never read.
      const probes = plan.filter((n) => n['Relation Name'] === 'deliveries').map((n) => n['Index Cond']);
      expect(probes).toEqual([
        expect.stringMatching(/\(tenant_id = .*\) AND \(event_id = .*\) AND \(channel < 'inapp'::text\)/),
        expect.stringMatching(/\(tenant_id = .*\) AND \(event_id = .*\) AND \(channel > 'inapp'::text\)/),
      ]);
    }
  });
});
