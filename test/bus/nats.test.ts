import { randomBytes } from 'node:crypto';
import { connect, headers, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdOf } from '../../src/auth/serviceKeys.ts';
import { deadLetterCounter } from '../../src/bus/busMessage.ts';
import { NATS_DEAD_HEADERS, NATS_KEY_HEADER, startNatsListener } from '../../src/bus/natsListener.ts';
import type { Role } from '../../workers/roles/role.ts';
import { startBus } from '../../workers/roles/bus.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';
import { requirePeer } from '../helpers/peers.ts';
import { copiesOf, holdEventId, killHard, spawnBusProcess, storedAssignees } from './busHelpers.ts';

const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
const run = randomBytes(4).toString('hex');
// A stream, subjects and durable of this file's own, deleted at the end.
const natsEnv = {
  NATS_URL,
  NATS_STREAM: `HERALD_TEST_${run}`,
  NATS_SUBJECT: `herald_test_${run}.events.>`,
  NATS_DEAD_SUBJECT: `herald_test_${run}.dead`,
  NATS_DURABLE: `herald-test-${run}`,
};
const DEAD_STREAM = `${natsEnv.NATS_STREAM}_DEAD`;
/** A second listener with a handler that stalls, to watch the batch bound. */
const slowNats = {
  stream: `HERALD_TEST_${run}_SLOW`,
  subject: `herald_test_${run}.slow.>`,
  deadSubject: `herald_test_${run}.slow_dead`,
  durable: `herald-test-${run}-slow`,
};

const nc: NatsConnection | null = await connect({ servers: NATS_URL, timeout: 1_000, maxReconnectAttempts: 0 }).catch(() => null);
const natsUp = requirePeer(
  'test/bus/nats.test.ts',
  nc !== null,
  `no NATS server answers at ${NATS_URL} (TEST_NATS_URL)`,
  'Start one with JetStream: apt-get install nats-server, then nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/nats (bash .ci/run does this)',
);

let env: TestEnv;
let api: ApiClient;
let jsm: JetStreamManager;
let u1: string;
let bus: Role;

beforeAll(async () => {
  if (!nc) return;
  jsm = await nc.jetstreamManager();
  env = await createTestEnv({ ...natsEnv, BUS_DEFAULT_KEY: SERVICE_KEY, BUS_CLAIM_IDLE_MS: '1000' });
  const web = await env.startWeb();
  // The sweeper routes an event whose worker died after committing it but before enqueuing its route.
  await env.startRouter({ OUTBOX_SWEEP_AFTER_SECONDS: 1 });
  await env.startInapp();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
  await seedDirectory(api, 'globex', ['g1']);
  u1 = await env.userToken('u1', ['acme']);
  bus = await env.startRole(startBus);
});
afterAll(async () => {
  await env?.cleanup();
  if (!nc) return;
  for (const stream of [natsEnv.NATS_STREAM, DEAD_STREAM, slowNats.stream, `${slowNats.stream}_DEAD`]) await jsm.streams.delete(stream).catch(() => {});
  await nc.close();
});

async function publish(envelope: unknown, key?: string): Promise<number> {
  const hdrs = headers();
  if (key !== undefined) hdrs.set(NATS_KEY_HEADER, key);
  const body = typeof envelope === 'string' ? envelope : JSON.stringify(envelope);
  return (await nc!.jetstream().publish(`herald_test_${run}.events.test`, body, { headers: hdrs })).seq;
}

async function inboxEventIds(): Promise<string[]> {
  const res = await api.get('/api/v1/notifications?limit=100', u1);
  return (res.body.items as { eventId: string }[]).map((n) => n.eventId);
}

/** Waits until the consumer has delivered everything published and holds nothing unacknowledged. */
async function settled(): Promise<void> {
  await eventually(async () => {
    const info = await jsm.consumers.info(natsEnv.NATS_STREAM, natsEnv.NATS_DURABLE);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  });
}

async function deadLetters(): Promise<{ data: string; reason: string; sequence: number; key: string; keyId: string; headers: string }[]> {
  const { state } = await jsm.streams.info(DEAD_STREAM);
  const out = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(DEAD_STREAM, { seq });
    out.push({
      data: msg.string(),
      reason: msg.header.get(NATS_DEAD_HEADERS.reason),
      sequence: Number(msg.header.get(NATS_DEAD_HEADERS.sequence)),
      key: msg.header.get(NATS_KEY_HEADER),
      keyId: msg.header.get(NATS_DEAD_HEADERS.keyId),
      headers: JSON.stringify([...msg.header]),
    });
  }
  return out;
}

describe('NATS JetStream listener', () => {
  it.skipIf(!natsUp)('delivers events to the inbox under the scope of the Herald-Key header', async () => {
    await publish({ id: 'nats_keyed', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'], data: { title: 'From NATS' } }, ACME_KEY);
    await publish({ id: 'nats_default', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    let ids: string[] = [];
    await eventually(async () => {
      ids = await inboxEventIds();
      return ids.includes('nats_keyed') && ids.includes('nats_default');
    });
    const outside = await publish({ id: 'nats_outside', tenantId: 'globex', type: 'finding_created' }, ACME_KEY);
    await settled();
    const dead = await deadLetters();
    // SPEC §7.1: the key never reaches the dead letter; its id says which publisher it was.
    expect(dead.find((d) => d.sequence === outside)).toMatchObject({
      reason: 'forbidden: tenantId: not allowed for tenant globex',
      key: '',
      keyId: keyIdOf(ACME_KEY),
    });
    expect(dead.find((d) => d.sequence === outside)!.headers).not.toContain(ACME_KEY);
    // Work-queue retention: acknowledged and terminated messages leave the stream.
    expect((await jsm.streams.info(natsEnv.NATS_STREAM)).state.messages).toBe(0);
  });

  it.skipIf(!natsUp)('treats an id already published over HTTP as a duplicate: one notification', async () => {
    const first = await api.post('/api/v1/events', { id: 'nats_http_first', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    expect(first.status).toBe(202);
    await eventually(async () => (await inboxEventIds()).includes('nats_http_first'));
    await publish({ id: 'nats_http_first', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1', 'u2'] });
    await settled();
    // Stored once, as first published: u2, whom only the NATS copy names, can never be routed to.
    expect(await storedAssignees(env.db, 'nats_http_first')).toEqual(['u1']);
    expect(await copiesOf(env.db, 'nats_http_first')).toEqual({ events: 1, notifications: 1 });
  });

  it.skipIf(!natsUp)('terminates poison messages with a dead-letter record and goes on with the next', async () => {
    const countBefore = deadLetterCounter.nats;
    const badJson = await publish('{"id": "nats_broken", ');
    const badSchema = await publish({ id: 'nats_no_type', tenantId: 'acme' });
    await publish({ id: 'nats_after_poison', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    await eventually(async () => (await inboxEventIds()).includes('nats_after_poison'));
    await settled();

    const dead = await deadLetters();
    expect(dead.find((d) => d.sequence === badJson)?.data).toBe('{"id": "nats_broken", ');
    expect(dead.find((d) => d.sequence === badJson)?.reason).toMatch(/^invalid JSON in event: /);
    expect(dead.find((d) => d.sequence === badSchema)?.reason).toBe('invalid_request: type: Invalid input: expected string, received undefined');
    expect(deadLetterCounter.nats - countBefore).toBe(2);
    const info = await jsm.consumers.info(natsEnv.NATS_STREAM, natsEnv.NATS_DURABLE);
    expect(info.num_redelivered).toBe(0);
  });

  it.skipIf(!natsUp)('fetches in batches and holds at most one batch unacknowledged', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const listener = await startNatsListener({
      ...slowNats,
      url: NATS_URL,
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
      for (let i = 0; i < 10; i++) await nc!.jetstream().publish(`herald_test_${run}.slow.x`, '{}');
      await eventually(async () => started === 3);
      // A listener that fetched ahead would ask again as soon as its first fetch returned, and the
      // server would hand it the seven waiting messages within milliseconds: 300 ms is well past that.
      await new Promise((r) => setTimeout(r, 300));
      expect(started).toBe(3);
      expect((await jsm.consumers.info(slowNats.stream, slowNats.durable)).num_ack_pending).toBe(3);
      release();
      await eventually(async () => started === 10 && (await jsm.streams.info(slowNats.stream)).state.messages === 0);
    } finally {
      release();
      await listener.close();
    }
  });

  it.skipIf(!natsUp)('loses nothing and duplicates nothing when a worker is killed between read and ack', async () => {
    await env.stop(bus);
    const ids = Array.from({ length: 5 }, (_, i) => `nats_crash_${i}`);
    const held = await holdEventId(env.db, 'nats_crash_3');
    for (const id of ids) await publish({ id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });

    const child = spawnBusProcess(env.config, natsEnv);
    try {
      // The worker has fetched all five, stored and acked the first, and waits to store the rest.
      await eventually(async () => {
        const info = await jsm.consumers.info(natsEnv.NATS_STREAM, natsEnv.NATS_DURABLE);
        return info.num_ack_pending === 4 && (await held.waiting()) > 0;
      }, 20_000);
      await killHard(child);
    } finally {
      await killHard(child);
      await held.release();
    }

    bus = await env.startRole(startBus);
    await eventually(async () => {
      const inbox = await inboxEventIds();
      return ids.every((id) => inbox.includes(id));
    }, 20_000);
    await settled();
    for (const id of ids) expect(await copiesOf(env.db, id)).toEqual({ events: 1, notifications: 1 });
    expect((await deadLetters()).some((d) => d.data.includes('nats_crash_'))).toBe(false);
  });
});
