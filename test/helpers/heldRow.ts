import type { Db } from '../../src/db/client.ts';

export type HeldRow = {
  /** Statements of this database waiting on a lock right now. */
  waiting(): Promise<number>;
  /** Rolls the row back: whoever waited on it goes on, and the key is free again. Once; later calls do nothing. */
  release(): Promise<void>;
};

/**
 * Inserts a row in a transaction left open. A worker inserting the same key (even with
 * ON CONFLICT DO NOTHING) waits on it until `release()`, so a test can hold the worker in the
 * middle of its work — by construction, for as long as it wants — and see it waiting.
 */
export async function holdRow(db: Db, insert: (connection: Db['$client']) => Promise<unknown>): Promise<HeldRow> {
  const connection = await db.$client.reserve();
  await connection`begin`;
  await insert(connection as unknown as Db['$client']);
  let released = false;
  return {
    async waiting() {
      const [row] = await db.$client`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      return row!.n as number;
    },
    async release() {
      if (released) return;
      released = true;
      await connection`rollback`;
      connection.release();
    },
  };
}
