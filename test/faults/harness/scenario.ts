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

export type InboxCheck = { expected: number; delivered: number; lost: number; lostSample: string[] };

/**
 * Compares the inbox with what must be in it: every (event, user) pair present. (A second row
 * for a pair cannot happen: notifications are unique on (event, user), so counting them would
 * check the index, not Herald; exactly-once is checked where it can break — frames, webhook
 * posts, emails — with `tallyCopies`.)
 */
export async function checkInbox(env: TestEnv, expected: { eventId: string; userId: string }[]): Promise<InboxCheck> {
  const rows = await env.db.$client<{ event_id: string; user_id: string }[]>`select event_id, user_id from notifications`;
  const present = new Set(rows.map((r) => `${r.event_id}\u0000${r.user_id}`));
  const missing = expected.filter((p) => !present.has(`${p.eventId}\u0000${p.userId}`));
  const sample = missing.slice(0, 5);
  const stages = await whereEventsStopped(env, [...new Set(sample.map((p) => p.eventId))]);
  return {
    expected: expected.length,
    delivered: expected.length - missing.length,
    lost: missing.length,
    lostSample: sample.map((p) => `${p.eventId}→${p.userId} (${stages.get(p.eventId)})`),
  };
}

/**
 * How far each event got, for the message of a failed check: never stored, stored but not
 * routed, or routed with its deliveries' channels and states. A lost pair alone does not say
 * which hop dropped it.
 */
async function whereEventsStopped(env: TestEnv, eventIds: string[]): Promise<Map<string, string>> {
  if (eventIds.length === 0) return new Map();
  const rows = await env.db.$client<{ tenant_id: string; id: string; routed: boolean; deliveries: string | null }[]>`
    select e.tenant_id, e.id, o.id is null as routed,
           string_agg(d.channel || ' ' || d.state, ', ' order by d.channel, d.state) as deliveries
      from events e
      left join event_outbox o on o.tenant_id = e.tenant_id and o.id = e.id
      left join deliveries d on d.tenant_id = e.tenant_id and d.event_id = e.id
     where e.id = any(${eventIds})
     group by e.tenant_id, e.id, o.id`;
  // An id is the publisher's key within its tenant only, so one id may name an event in several.
  const found = new Map<string, string[]>();
  for (const r of rows) {
    const stage = `${r.tenant_id}: ${r.routed ? 'routed' : 'stored, not routed'}; deliveries: ${r.deliveries ?? 'none'}`;
    found.set(r.id, [...(found.get(r.id) ?? []), stage]);
  }
  return new Map(eventIds.map((id) => [id, found.get(id)?.join(' | ') ?? 'not stored']));
}

export type CopiesCheck = { expected: number; lost: number; repeated: number; unexpected: number; sample: string[] };

/** Compares what arrived (copies per key) with what had to, once each: keys missing, copies beyond the first, keys never owed. */
export function tallyCopies(expected: string[], copies: Map<string, number>): CopiesCheck {
  const owed = new Set(expected);
  const lost = expected.filter((key) => !copies.has(key));
  const repeated = [...copies].filter(([, n]) => n > 1);
  const unexpected = [...copies.keys()].filter((key) => !owed.has(key));
  return {
    expected: owed.size,
    lost: lost.length,
    repeated: repeated.reduce((sum, [, n]) => sum + n - 1, 0),
    unexpected: unexpected.length,
    sample: [...lost.map((k) => `lost ${k}`), ...repeated.map(([k, n]) => `${n}× ${k}`), ...unexpected.map((k) => `unowed ${k}`)].slice(0, 5),
  };
}

/** How many copies of each key a list holds. */
export function countCopies(keys: string[]): Map<string, number> {
  const copies = new Map<string, number>();
  for (const key of keys) copies.set(key, (copies.get(key) ?? 0) + 1);
  return copies;
}

/**
 * Waits until no delivery of `channel` is pending. A sender posts (or announces) before it
 * records the outcome, and nothing sends a finished delivery again, so from then on no further
 * post, email or frame for those deliveries can come.
 */
export async function untilNonePending(env: TestEnv, channel: string, timeoutMs: number): Promise<number> {
  const pending = async () => (await env.db.$client`select count(*)::int as n from deliveries where channel = ${channel} and state in ('pending', 'scheduled')`)[0]!.n as number;
  return settle(pending, (n) => n === 0, timeoutMs);
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
