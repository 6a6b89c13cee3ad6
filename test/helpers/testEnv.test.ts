import { sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { closeDb, createDb } from '../../src/db/client.ts';
import { runWorker } from '../../workers/run-worker.ts';
import { createTestEnv } from './testEnv.ts';

// The helpers every file relies on: a leftover must fail the file, and stop() must stop what it is given.

it('stop() refuses what it did not start, and stops nothing else in its place', async () => {
  const env = await createTestEnv();
  const closed: string[] = [];
  const tracked = await env.startRole(async () => ({ close: async () => void closed.push('tracked') }));
  await expect(env.stop({ close: async () => void closed.push('stranger') })).rejects.toThrow(/not started through this test env/);
  expect(closed).toEqual([]);
  await env.stop(tracked);
  expect(closed).toEqual(['tracked']);
  await env.cleanup();
  expect(closed).toEqual(['tracked']);
});

it('cleanup fails when a connection to the file’s database is left open', async () => {
  const env = await createTestEnv();
  const forgotten = createDb(env.config.DATABASE_URL, { max: 1 });
  await forgotten.execute(sql`select 1`);
  await expect(env.cleanup()).rejects.toThrow(/1 Postgres connection\(s\) to herald_test_/);
  // Dropping the database ended the session; the pool still has to be closed.
  await closeDb(forgotten);
});

it('cleanup fails when a queue worker is left running', async () => {
  const env = await createTestEnv();
  const forgotten = runWorker({ queue: 'push', config: env.config, logger: env.logger, handle: async () => undefined });
  await forgotten.worker.waitUntilReady();
  await expect(env.cleanup()).rejects.toThrow(/queue worker connection\(s\) on Redis prefix test_/);
  await forgotten.close();
});
