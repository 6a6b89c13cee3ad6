import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, createDb } from '../../src/db/client.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.cleanup();
});

describe('createDb', () => {
  it('applies its session settings to every connection of the pool, and keeps the defaults beside them', async () => {
    const db = createDb(env.config.DATABASE_URL, { max: 3, settings: { synchronous_commit: 'off' } });
    try {
      // Reserved at once, so each query runs on a connection of its own.
      const connections = await Promise.all([1, 2, 3].map(() => db.$client.reserve()));
      const sessions = await Promise.all(
        connections.map(async (connection) => {
          const [row] = await connection<{ pid: number; synchronous_commit: string; statement_timeout: string }[]>`
            select pg_backend_pid() as pid, current_setting('synchronous_commit') as synchronous_commit, current_setting('statement_timeout') as statement_timeout`;
          connection.release();
          return row!;
        }),
      );
      expect(new Set(sessions.map((s) => s.pid)).size).toBe(3);
      for (const session of sessions) expect(session).toMatchObject({ synchronous_commit: 'off', statement_timeout: '10s' });
    } finally {
      await closeDb(db);
    }
  });

  it('leaves commits durable on a pool without settings', async () => {
    const db = createDb(env.config.DATABASE_URL, { max: 1 });
    try {
      const [row] = await db.$client<{ value: string }[]>`select current_setting('synchronous_commit') as value`;
      expect(row!.value).toBe('on');
    } finally {
      await closeDb(db);
    }
  });
});
