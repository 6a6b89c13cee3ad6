import type { Web } from '../../../src/http/web.ts';
import { apiClient, seedDirectory } from '../../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../../helpers/testEnv.ts';
import { startThrowawayServices, type ThrowawayServices } from './throwaway.ts';

export type FaultWorld = { services: ThrowawayServices; env: TestEnv; close(): Promise<void> };

/**
 * A test world on servers of the scenario's own: createTestEnv's migrated database, keys and
 * in-process roles, on a throwaway Postgres and redis-server the scenario may stop or flush.
 */
export async function openFaultWorld(config: Record<string, string> = {}): Promise<FaultWorld> {
  const services = await startThrowawayServices();
  let env: TestEnv;
  try {
    env = await createTestEnv(config, services);
  } catch (err) {
    await services.close();
    throw err;
  }
  return {
    services,
    env,
    async close() {
      // A failed scenario may have left a server stopped; the env's cleanup needs both.
      try {
        await Promise.all([services.startPostgres(), services.startRedis()]);
        await env.cleanup();
      } finally {
        await services.close();
      }
    },
  };
}

/**
 * A fault world with the intake path running in-process — an API instance, the router and the
 * in-app worker — and tenant `acme` with `users`: what the outage scenarios publish against.
 */
export async function openInboxWorld(config: Record<string, string>, users: string[]): Promise<{ world: FaultWorld; web: Web }> {
  const world = await openFaultWorld(config);
  const web = await world.env.startWeb();
  await seedDirectory(apiClient(web.url), 'acme', users);
  await world.env.startRouter();
  await world.env.startInapp();
  return { world, web };
}

/** The one line a scenario prints: `fault <name>: accepted 500, delivered 500, lost 0, …`. */
export function report(name: string, results: Record<string, number | string>): string {
  const line = `fault ${name}: ${Object.entries(results)
    .map(([key, value]) => `${key} ${value}`)
    .join(', ')}`;
  console.log(line);
  return line;
}

export type InboxCheck = { expected: number; delivered: number; lost: number; duplicated: number; lostSample: string[] };

/**
 * Compares the inbox with what must be in it: every (event, user) pair once. `duplicated`
 * counts rows beyond the first for a pair (the unique key should make it 0 whatever happens).
 */
export async function checkInbox(env: TestEnv, expected: { eventId: string; userId: string }[]): Promise<InboxCheck> {
  const rows = await env.db.$client<{ event_id: string; user_id: string; n: number }[]>`
    select event_id, user_id, count(*)::int as n from notifications group by 1, 2`;
  const present = new Map(rows.map((r) => [`${r.event_id}\u0000${r.user_id}`, r.n]));
  const missing = expected.filter((p) => !present.has(`${p.eventId}\u0000${p.userId}`));
  return {
    expected: expected.length,
    delivered: expected.length - missing.length,
    lost: missing.length,
    duplicated: rows.reduce((sum, r) => sum + r.n - 1, 0),
    lostSample: missing.slice(0, 5).map((p) => `${p.eventId}→${p.userId}`),
  };
}

/** Polls `check` until `done` says so or time runs out, and returns the last result either way (the caller asserts on it). */
export async function settle<T>(check: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
