import { once } from 'node:events';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenants } from '../../src/db/schema.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { createSubscriptions } from '../../src/realtime/subscriptions.ts';
import { usersWithOpenStreams } from '../../src/realtime/streamLimit.ts';
import { createRedis, deleteKeysWithPrefix, keyServers, slotPrefix } from '../../src/redis.ts';
import { createSlidingWindowLimiter } from '../../src/slidingWindowLimit.ts';
import type { EmailContent } from '../../src/templates/content.ts';
import { createCachedTemplateSource, createChangeAnnouncer, renderEmail, type CachedTemplateSource } from '../../src/templates/templateRenderer.ts';
import { addTemplateVersion, createTemplate } from '../../src/templates/templateStore.ts';
import { startBus } from '../../workers/roles/bus.ts';
import { startWebhook } from '../../workers/roles/webhook.ts';
import { startScriptedReceiver, type ScriptedReceiver } from '../channels/receivers.ts';
import { sampleEvent } from '../chat/sampleEvent.ts';
import { startRedisCluster, type RedisCluster } from '../faults/harness/redisCluster.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { streamTracker } from '../helpers/sse.ts';
import { heardOnEachChannel, subscribingWhileConnecting } from '../helpers/subscriptions.ts';
import { createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';

/**
 * SPEC §8.1: with REDIS_CLUSTER_NODES set, every queue, pub/sub channel, stream and rate limit
 * runs on a real three-master Redis Cluster started from the machine's redis-server.
 */
let cluster: RedisCluster;
let env: TestEnv;
let api: ApiClient;
let baseUrl: string;
let receiver: ScriptedReceiver;
const streams = streamTracker();
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  receiver = await startScriptedReceiver();
  env = await createTestEnv({ REDIS_CLUSTER_NODES: cluster.nodes, OUTBOUND_ALLOW_HOSTS: '127.0.0.1', INTAKE_RATE_LIMIT: '1000' });
  const web = await env.startWeb();
  baseUrl = web.url;
  api = apiClient(baseUrl);
  await env.startRouter();
  await env.startInapp();
  await env.startRole(startWebhook);
  await env.startRole(startBus);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
}, 90_000);

afterAll(async () => {
  streams.closeAll();
  for (const close of closers.reverse()) await close();
  // The receiver and the cluster's servers stop even when the cleanup finds a leak (and throws it).
  try {
    await env?.cleanup();
  } finally {
    await receiver?.close();
    await cluster?.close();
  }
});

describe('Herald on a Redis Cluster', () => {
  it('talks to a cluster of three masters', () => {
    expect(env.redis).toBeInstanceOf(Cluster);
    expect(keyServers(env.redis)).toHaveLength(3);
    expect(slotPrefix(env.config)).toBe(`{${env.config.REDIS_PREFIX}}`);
  });

  it('publishes an event into the inbox and onto the user’s live stream', async () => {
    const stream = streams.open(baseUrl, await env.userToken('u1', ['acme']));
    await stream.opened;
    const res = await api.post('/api/v1/events', { id: 'evt_cluster_1', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'], data: { title: 'On a cluster' } });
    expect(res.status).toBe(202);
    const [frame] = await stream.waitFor((f) => f.type === 'notification' && f.data.eventId === 'evt_cluster_1');
    expect(frame!.data.title).toBe('On a cluster');
    const [row] = await env.db.$client`select count(*)::int as n from notifications where event_id = 'evt_cluster_1' and user_id = 'u1'`;
    expect(row!.n).toBe(1);
    // Presence reads one key per user, and the users' keys sit in different slots.
    expect(await usersWithOpenStreams(env.redis, env.config.REDIS_PREFIX, ['u1', 'u2', 'nobody'])).toEqual(new Set(['u1']));
    // Who listens, for a large fan-out's frames: the hub's subscription sits on one node, which every node relays to.
    expect(await createFramePublisher(env.redis, env.config.REDIS_PREFIX).listeningUsers(['u1', 'u2', 'nobody'])).toEqual(new Set(['u1']));
  });

  it('keeps every subscription a burst of stream opens asks for while the cluster’s subscriber connects', async () => {
    // ioredis connects a cluster's subscriber on the first SUBSCRIBE, with a ready check that a
    // SUBSCRIBE written during the handshake breaks (see test/realtime/subscriptions.test.ts):
    // sent straight to the cluster, 5 to 31 of these 40 were lost.
    const subscriber = createRedis(env.config, 'subscriber');
    closers.push(() => subscriber.disconnect());
    // Ready as a hub's has long been when streams open; its subscriber connection is not made yet.
    await once(subscriber, 'ready');
    const channels = await subscribingWhileConnecting(createSubscriptions(subscriber), `${env.config.REDIS_PREFIX}:burst`, 40);
    expect(await heardOnEachChannel(env.redis, [{ subscriber, channels }])).toEqual(channels);
  });

  it('fans a large event out through the in-app queue', async () => {
    const users = Array.from({ length: 150 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${users}::text[]) as id`;
    const res = await api.post('/api/v1/events', { id: 'evt_cluster_fanout', tenantId: 'acme', type: 'finding_created', assigneeUserIds: users });
    expect(res.status).toBe(202);
    await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where event_id = 'evt_cluster_fanout'`)[0]!.n === users.length, 20_000);
  });

  it('sends a webhook delivery through its queue', async () => {
    const rule = await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'cluster_hook', channel: 'webhook', severityFilter: '', webhookUrl: `${receiver.origin}/cluster-hook` });
    expect(rule.status).toBe(201);
    expect((await api.post('/api/v1/events', { id: 'evt_cluster_hook', tenantId: 'acme', type: 'cluster_hook', severity: 'high' })).status).toBe(202);
    await eventually(async () => receiver.arrivals('/cluster-hook').length === 1, 20_000);
    const delivered = await eventually(async () => {
      const items = (await api.get('/api/v1/events/evt_cluster_hook/deliveries')).body.items as { channel: string; state: string }[];
      return items.find((i) => i.channel === 'webhook' && i.state === 'delivered');
    });
    expect(delivered).toBeTruthy();
  });

  it('consumes the bus stream and dead-letters what is invalid in one transaction', async () => {
    const stream = `${slotPrefix(env.config)}:events`;
    const envelope = { id: 'evt_cluster_bus', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u2'] };
    await env.redis.xadd(stream, '*', 'event', JSON.stringify(envelope), 'key', SERVICE_KEY);
    await env.redis.xadd(stream, '*', 'event', '{not json', 'key', SERVICE_KEY);
    await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where event_id = 'evt_cluster_bus'`)[0]!.n === 1, 15_000);
    const dead = await eventually(async () => {
      const entries = await env.redis.xrange(`${stream}:dead`, '-', '+');
      return entries.length === 1 ? entries : null;
    }, 15_000);
    expect(dead[0]![1]).toContain('reason');
    const [pending] = (await env.redis.xpending(stream, 'herald-bus')) as [number, ...unknown[]];
    expect(pending).toBe(0);
  });

  it('drops every instance’s template cache when one announces a change', async () => {
    await env.db.insert(tenants).values({ id: 'cachetenant', name: 'Cache' });
    const sources: CachedTemplateSource[] = [];
    for (let i = 0; i < 2; i++) {
      const subscriber = createRedis(env.config, 'subscriber');
      const source = await createCachedTemplateSource({ db: env.db, subscriber, prefix: env.config.REDIS_PREFIX, logger: env.logger });
      sources.push(source);
      closers.push(() => source.close(), () => subscriber.disconnect());
    }
    const event = sampleEvent({ id: 'evt_cache', type: 'cluster_cache', tenantId: 'cachetenant' });
    const subject = async (source: CachedTemplateSource) => ((await renderEmail(source, event, null)).content as EmailContent).subject;
    const slot = await createTemplate(env.db, { tenantId: 'cachetenant', eventType: 'cluster_cache', channel: 'email' }, { subject: 'v1', html: '<p>1</p>' });
    expect(await Promise.all(sources.map(subject))).toEqual(['v1', 'v1']);
    await addTemplateVersion(env.db, slot.id, { subject: 'v2', html: '<p>2</p>' });
    expect(await subject(sources[0]!)).toBe('v1');
    await createChangeAnnouncer(env.redis, env.config.REDIS_PREFIX, env.logger)({ kind: 'template', tenantId: 'cachetenant' });
    await eventually(async () => (await Promise.all(sources.map(subject))).every((s) => s === 'v2'), 5_000);
  });

  it('counts rate limits on the cluster', async () => {
    const limited = apiClient((await env.startWeb({ INTAKE_RATE_LIMIT: 3 })).url);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await limited.post('/api/v1/events', { id: `evt_limited_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u2'] })).status);
    }
    expect(statuses).toContain(429);

    const limiter = createSlidingWindowLimiter(env.redis, { prefix: env.config.REDIS_PREFIX, name: 'clustertest', limit: 2, windowSeconds: 60 });
    const decisions = [];
    for (let i = 0; i < 3; i++) decisions.push(await limiter('tenant-x'));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, false]);
  });

  it('deletes a prefix’s keys from every master, hash-tagged or not', async () => {
    const prefix = `${env.config.REDIS_PREFIX}_scratch`;
    const keys = [...Array.from({ length: 30 }, (_, i) => `${prefix}:k${i}`), `{${prefix}}:tagged`];
    for (const key of keys) await env.redis.set(key, '1');
    const holders = await Promise.all(keyServers(env.redis).map(async (server) => (await server.keys(`*${prefix}*`)).length));
    expect(holders.filter((n) => n > 0).length).toBeGreaterThan(1);
    await deleteKeysWithPrefix(env.redis, prefix);
    const left = await Promise.all(keyServers(env.redis).map((server) => server.keys(`*${prefix}*`)));
    expect(left.flat()).toEqual([]);
  });

  it('keeps the bus streams and every queue’s keys in the one hash slot of the prefix', async () => {
    const tag = slotPrefix(env.config);
    const slots = new Set<number>();
    for (const server of keyServers(env.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', `${tag}:*`, 'COUNT', 1000);
        cursor = next;
        for (const key of keys) slots.add(Number(await server.cluster('KEYSLOT', key)));
      } while (cursor !== '0');
    }
    expect(slots.size).toBe(1);
  });
});
