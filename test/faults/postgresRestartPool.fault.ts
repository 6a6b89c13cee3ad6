import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeDb, createDb, type Db } from '../../src/db/client.ts';
import { sleep } from './harness/scenario.ts';
import { startThrowawayServices, type ThrowawayServices } from './harness/throwaway.ts';

/**
 * Postgres stopped (fast shutdown) under statements in flight: every statement a pool was
 * handed settles, answered or rejected, and the same pool serves again once Postgres is back —
 * even a pool of one connection that holds several statements at once, as the router's
 * small-pass connection does when a pass writes its chunks side by side. postgres.js 3.4.9 left a
 * statement handed to a connection between its socket's error and its close unsettled for good,
 * and the reconnected connection waited on its answer, so every later statement of that pool hung
 * too (patches/postgres+3.4.9.patch). Without the patch this fails in its first round (the same
 * loop outside the suite hung in 6 of 6 rounds).
 */

const ROUNDS = 3;
const LANES = 3;
/** What a stuck statement is given to settle; a healthy one settles in milliseconds once Postgres answers or is gone. */
const SETTLE_MS = 10_000;

let services: ThrowawayServices;

beforeAll(async () => {
  services = await startThrowawayServices();
});

afterAll(() => services?.close());

type LaneTally = { answered: number; rejected: number };

/** Statements one after another on `db` until `stop()`; resolves once the last one settled. */
function runLanes(db: Db): { stop(): void; done: Promise<LaneTally[]> } {
  let stopped = false;
  const lane = async (): Promise<LaneTally> => {
    const tally = { answered: 0, rejected: 0 };
    while (!stopped) {
      await db.execute(sql`select pg_sleep(0.01)`).then(
        () => tally.answered++,
        () => tally.rejected++,
      );
    }
    return tally;
  };
  const done = Promise.all(Array.from({ length: LANES }, lane));
  return { stop: () => void (stopped = true), done };
}

const within = <T>(promise: Promise<T>, ms: number): Promise<T | 'unsettled'> =>
  Promise.race([promise, sleep(ms).then(() => 'unsettled' as const)]);

it('a pool of one connection with statements in flight settles them all across a Postgres restart, and serves after it', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const db = createDb(services.postgresUrl, { max: 1 });
    try {
      await db.execute(sql`select 1`);
      const lanes = runLanes(db);
      await sleep(200 + round * 50);
      await services.stopPostgres();
      await sleep(1_500);
      await services.startPostgres();
      await sleep(1_000);
      lanes.stop();

      const tallies = await within(lanes.done, SETTLE_MS);
      expect(tallies, `round ${round}: a statement in flight when Postgres stopped never settled`).not.toBe('unsettled');
      const total = (tallies as LaneTally[]).reduce((sum, t) => ({ answered: sum.answered + t.answered, rejected: sum.rejected + t.rejected }), { answered: 0, rejected: 0 });
      // The lanes ran, and the outage reached them.
      expect(total.rejected, `round ${round}`).toBeGreaterThan(0);
      expect(total.answered, `round ${round}`).toBeGreaterThan(0);

      const after = await within(db.execute(sql`select ${round}::int as round`), SETTLE_MS);
      expect(after, `round ${round}: the pool never served again`).not.toBe('unsettled');
      expect((after as unknown as { round: number }[])[0]?.round).toBe(round);
    } finally {
      await closeDb(db);
    }
  }
});
