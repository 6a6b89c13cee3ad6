import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/auth/serviceKeys.ts';
import { deadLetterCounter } from '../../src/bus/busMessage.ts';
import { startRedisStreamListener } from '../../src/bus/redisStreamListener.ts';
import type { Role } from '../../workers/roles/role.ts';
import { startBus } from '../../workers/roles/bus.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';
import { copiesOf, holdEventId, killHard, spawnBusProcess, storedAssignees } from './busHelpers.ts';

let env: TestEnv;
let api: ApiClient;
let u1: string;
let bus: Role;
let stream: string;
let deadStream: string;
const GROUP = 'herald-bus';

beforeAll(async () => {
  env = await createTestEnv({ BUS_DEFAULT_KEY: SERVICE_KEY, BUS_CLAIM_IDLE_MS: '500' });
  stream = `${env.config.REDIS_PREFIX}:events`;
  deadStream = `${stream}:dead`;
  const web = await env.startWeb();
  // The sweeper routes an event whose worker died after committing it but before enqueuing its route.
  await env.startRouter({ OUTBOX_SWEEP_AFTER_SECONDS: 1 });
  await env.startInapp();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
  await seedDirectory(api, 'globex', ['g1']);
  u1 = await env.userToken('u1', ['acme']);
  // Published before any listener ran: the group must start from the stream's beginning.
  await xadd({ id: 'evt_early', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
  bus = await env.startRole(startBus);
});
afterAll(() => env?.cleanup());

function xadd(envelope: unknown, key?: string): Promise<string> {
  const event = typeof envelope === 'string' ? envelope : JSON.stringify(envelope);
  return env.redis.xadd(stream, '*', 'event', event, ...(key === undefined ? [] : ['key', key])) as Promise<string>;
}

async function inboxEventIds(token = u1): Promise<string[]> {
  const res = await api.get('/api/v1/notifications?limit=100', token);
  return (res.body.items as { eventId: string }[]).map((n) => n.eventId);
}

/** Waits until the group has read up to `id` and nothing is left unacknowledged. */
async function settled(id: string): Promise<void> {
  await eventually(async () => {
    const groups = (await env.redis.xinfo('GROUPS', stream)) as unknown[][];
    const info = groups.map((g) => Object.fromEntries(chunk(g))).find((g) => g.name === GROUP);
    const [pending] = (await env.redis.xpending(stream, GROUP)) as [number];
    return info && compareIds(String(info['last-delivered-id']), id) >= 0 && pending === 0;
  });
}

async function deadLetters(): Promise<Record<string, string>[]> {
  const entries = (await env.redis.xrange(deadStream, '-', '+')) as [string, string[]][];
  return entries.map(([, fields]) => Object.fromEntries(chunk(fields)) as Record<string, string>);
}

describe('Redis Stream listener', () => {
  it('consumes messages added before it first ran', async () => {
    await eventually(async () => (await inboxEventIds()).includes('evt_early'));
  });

  it('delivers events to the inbox under the scope of the message’s key', async () => {
    await xadd({ id: 'evt_keyed', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'], data: { title: 'From the stream' } }, ACME_KEY);
    await eventually(async () => (await inboxEventIds()).includes('evt_keyed'));
    const [row] = (await api.get('/api/v1/notifications?limit=1', u1)).body.items;
    expect(row).toMatchObject({ eventId: 'evt_keyed', tenantId: 'acme', title: 'From the stream' });

    const outside = await xadd({ id: 'evt_outside', tenantId: 'globex', type: 'finding_created', assigneeUserIds: ['g1'] }, ACME_KEY);
    const unknownKey = await xadd({ id: 'evt_badkey', tenantId: 'acme', type: 'finding_created' }, 'not-a-configured-service-key');
    const unknownTenant = await xadd({ id: 'evt_ghost_tenant', tenantId: 'nowhere', type: 'finding_created' });
    await settled(unknownTenant);
    const dead = await deadLetters();
    expect(dead.find((d) => d.sourceId === outside)?.reason).toBe('forbidden: tenantId: not allowed for tenant globex');
    expect(dead.find((d) => d.sourceId === unknownKey)?.reason).toBe('unknown service key');
    expect(dead.find((d) => d.sourceId === unknownTenant)?.reason).toBe('unknown_tenant: tenantId: unknown tenant nowhere');
    expect((await copiesOf(env.db, 'evt_outside')).events).toBe(0);
    // SPEC §7.1: the key never reaches the dead letter; its id says which publisher it was.
    expect(dead.find((d) => d.sourceId === outside)).toMatchObject({ keyId: keyIdOf(ACME_KEY) });
    expect(dead.find((d) => d.sourceId === outside)).not.toHaveProperty('key');
    const raw = JSON.stringify(await env.redis.xrange(deadStream, '-', '+'));
    expect(raw).not.toContain(ACME_KEY);
    expect(raw).not.toContain('not-a-configured-service-key');
  });

  it('treats an id already published over HTTP as a duplicate: one notification', async () => {
    const first = await api.post('/api/v1/events', { id: 'evt_http_then_bus', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    expect(first.status).toBe(202);
    await eventually(async () => (await inboxEventIds()).includes('evt_http_then_bus'));
    const onBus = await xadd({ id: 'evt_http_then_bus', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1', 'u2'] });
    await settled(onBus);
    // Stored once, as first published: u2, whom only the bus copy names, can never be routed to.
    expect(await storedAssignees(env.db, 'evt_http_then_bus')).toEqual(['u1']);
    expect(await copiesOf(env.db, 'evt_http_then_bus')).toEqual({ events: 1, notifications: 1 });
    expect((await deadLetters()).some((d) => d.sourceId === onBus)).toBe(false);
  });

  it('moves poison messages to the dead-letter stream with the reason and goes on with the next', async () => {
    const countBefore = deadLetterCounter.redis;
    const badJson = await xadd('{"id": "evt_broken", ');
    const badSchema = await xadd({ id: 'evt_no_type', tenantId: 'acme', severity: 'loud' });
    const noEvent = (await env.redis.xadd(stream, '*', 'something', 'else')) as string;
    await xadd({ id: 'evt_after_poison', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    await eventually(async () => (await inboxEventIds()).includes('evt_after_poison'));

    const dead = await eventually(async () => {
      const all = await deadLetters();
      return [badJson, badSchema, noEvent].every((id) => all.some((d) => d.sourceId === id)) ? all : null;
    });
    const byId = (id: string) => dead.find((d) => d.sourceId === id)!;
    expect(byId(badJson)).toMatchObject({ event: '{"id": "evt_broken", ' });
    expect(byId(badJson).reason).toMatch(/^invalid JSON in event: /);
    expect(byId(badSchema).reason).toBe(
      'invalid_request: type: Invalid input: expected string, received undefined; severity: must be empty or one of info, low, medium, high, critical, urgent',
    );
    expect(byId(noEvent)).toMatchObject({ something: 'else', reason: 'no event field' });
    expect(deadLetterCounter.redis - countBefore).toBe(3);
    const [pending] = (await env.redis.xpending(stream, GROUP)) as [number];
    expect(pending).toBe(0);
  });

  it('dead-letters a message Postgres could not store (a NUL character) and goes on with the next', async () => {
    const refused = await xadd({ id: 'evt_nul', tenantId: 'acme', type: 'finding_created', data: { title: 'a\u0000b' } });
    await xadd({ id: 'evt_behind_nul', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    await eventually(async () => (await inboxEventIds()).includes('evt_behind_nul'));
    const dead = await eventually(async () => (await deadLetters()).find((d) => d.sourceId === refused));
    expect(dead.reason).toContain('data.title');
    await settled(refused);
  });

  it('leaves messages unacknowledged while the database is away, and stores them once it is back', async () => {
    await env.stop(bus);
    const broken = await env.startRole(startBus, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/herald' });
    const id = await xadd({ id: 'evt_db_away', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    // Delivered to the listener a third time: twice it tried to store it, failed, left it pending
    // and took it back after BUS_CLAIM_IDLE_MS — two tries that ended in neither an ack nor a dead letter.
    await eventually(async () => {
      const [entry] = (await env.redis.xpending(stream, GROUP, '-', '+', 10)) as [string, string, number, number][];
      return entry?.[0] === id && entry[3] >= 3;
    });
    expect((await deadLetters()).some((d) => d.sourceId === id)).toBe(false);
    await env.stop(broken);

    bus = await env.startRole(startBus);
    await eventually(async () => (await inboxEventIds()).includes('evt_db_away'));
    await settled(id);
  });

  it('reads in batches and holds at most one batch unacknowledged', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const slowPrefix = `${env.config.REDIS_PREFIX}:slow`;
    // Ten waiting before it starts: the first read could take them all, and must take three.
    for (let i = 0; i < 10; i++) await env.redis.xadd(`${slowPrefix}:events`, '*', 'event', '{}');
    const listener = await startRedisStreamListener({
      redis: env.config,
      prefix: slowPrefix,
      logger: env.logger,
      claimIdleMs: 60_000,
      batchSize: 3,
      handle: async () => {
        started++;
        await gate;
        return 'acked';
      },
    });
    try {
      await eventually(async () => started === 3);
      // A listener that read ahead would read again as soon as its first read returned, and Redis
      // would answer at once (seven more wait): 300 ms is well past that. Its only other read, the
      // claim of messages idle for claimIdleMs, cannot take any for a minute.
      await new Promise((r) => setTimeout(r, 300));
      expect(started).toBe(3);
      expect(((await env.redis.xpending(listener.stream, listener.group)) as [number])[0]).toBe(3);
      release();
      await eventually(async () => started === 10 && ((await env.redis.xpending(listener.stream, listener.group)) as [number])[0] === 0);
    } finally {
      release();
      await listener.close();
    }
  });

  it('loses nothing and duplicates nothing when a worker is killed between read and ack', async () => {
    await env.stop(bus);
    const ids = Array.from({ length: 5 }, (_, i) => `evt_crash_${i}`);
    const held = await holdEventId(env.db, 'evt_crash_3');
    const streamIds: string[] = [];
    for (const id of ids) streamIds.push(await xadd({ id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] }));

    const child = spawnBusProcess(env.config);
    try {
      // The worker has read all five, committed the first, and waits to store the rest: killed
      // now, it leaves a committed-but-unacked message and four unstored ones behind.
      await eventually(async () => (await copiesOf(env.db, 'evt_crash_0')).events === 1 && (await held.waiting()) > 0, 20_000);
      await killHard(child);
      const pending = (await env.redis.xpending(stream, GROUP, '-', '+', 100)) as [string, ...unknown[]][];
      expect(pending.map(([id]) => id)).toEqual(expect.arrayContaining(streamIds));
    } finally {
      await killHard(child);
      await held.release();
    }

    bus = await env.startRole(startBus);
    await eventually(async () => {
      const inbox = await inboxEventIds();
      return ids.every((id) => inbox.includes(id));
    }, 20_000);
    await settled(streamIds.at(-1)!);
    for (const id of ids) expect(await copiesOf(env.db, id)).toEqual({ events: 1, notifications: 1 });
    expect((await deadLetters()).some((d) => streamIds.includes(d.sourceId!))).toBe(false);
  });
});

function chunk<T>(flat: T[]): [string, T][] {
  const pairs: [string, T][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([String(flat[i]), flat[i + 1] as T]);
  return pairs;
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? Number(as - bs) : am > bm ? 1 : -1;
}
