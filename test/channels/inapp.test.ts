import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeInappBatches, type InappWriterDeps } from '../../src/channels/inapp.ts';
import { INLINE_INAPP_MAX } from '../../src/queues/catalog.ts';
import { createFramePublisher, userChannel } from '../../src/realtime/liveFrames.ts';
import { createRedis } from '../../src/redis.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { timelineOf } from '../helpers/timeline.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let deps: InappWriterDeps;
const frames: { channel: string; frame: { type: string; data: any } }[] = [];
let subscriber: ReturnType<typeof createRedis>;
/** Every frame published on a user channel, as `<user> <type>`, seen through a pattern, which counts as nobody's stream. */
const publishedTo: string[] = [];
let watcher: ReturnType<typeof createRedis>;

// The router writes small fan-outs itself; these events reach more people than that, so their
// rows wait for the in-app worker. It does not run here: the test hands batches to writeInappBatches.
const acmeCrowd = Array.from({ length: INLINE_INAPP_MAX }, (_, i) => `ca${String(i).padStart(3, '0')}`);
const globexCrowd = Array.from({ length: INLINE_INAPP_MAX }, (_, i) => `cg${String(i).padStart(3, '0')}`);

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await seedDirectory(api, 'acme', ['a1', 'a2', 'a3']);
  await seedDirectory(api, 'globex', ['g1']);
  for (const [tenant, crowd] of [['acme', acmeCrowd], ['globex', globexCrowd]] as const) {
    await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@example.com', id, array[${tenant}] from unnest(${crowd}::text[]) as id`;
  }
  deps = { db: env.db, frames: createFramePublisher(env.redis, env.config.REDIS_PREFIX) };
  subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
  // A message carries every frame of one publish for the channel (a row and its count together).
  subscriber.on('message', (channel: string, message: string) => {
    for (const frame of JSON.parse(message)) frames.push({ channel, frame });
  });
  await subscriber.subscribe(...['a1', 'a2', 'a3', 'g1'].map((u) => userChannel(env.config.REDIS_PREFIX, u)));
  watcher = createRedis(env.config.REDIS_URL, 'subscriber');
  watcher.on('pmessage', (_pattern: string, channel: string, message: string) => {
    for (const frame of JSON.parse(message)) publishedTo.push(`${channel.split(':').pop()} ${frame.type}`);
  });
  await watcher.psubscribe(userChannel(env.config.REDIS_PREFIX, '*'));
});
afterAll(async () => {
  watcher?.disconnect();
  subscriber?.disconnect();
  await env?.cleanup();
});

async function publishRouted(event: Record<string, unknown>): Promise<void> {
  expect((await api.post('/api/v1/events', { type: 'finding_created', ...event })).status).toBe(202);
  await eventually(async () => (await routedEventIds(env.db.$client, [event.id as string])).length === 1);
}

/**
 * The frames received since `from`, up to a marker published afterwards on the connection the
 * writes publish on: Redis hands one connection's messages to a subscriber in order, so every
 * frame published before the marker has arrived once the marker has.
 */
async function framesUntilFence(from: number): Promise<typeof frames> {
  const marker = `fence_${frames.length}_${Date.now()}`;
  await deps.frames.toUser('g1', { type: 'notification.read', data: { id: marker } });
  await eventually(async () => frames.some((f) => f.frame.type === 'notification.read' && f.frame.data.id === marker));
  return frames.slice(from, frames.findIndex((f) => f.frame.type === 'notification.read' && f.frame.data.id === marker));
}

const inboxOf = (eventId: string) =>
  env.db.$client`select user_id, tenant_id, title from notifications where event_id = ${eventId} order by user_id`;
/** The in-app deliveries of the named users (the crowds' wait for batches this file never runs). */
const statesOf = (eventId: string) =>
  env.db.$client`select destination, state, attempts from deliveries where event_id = ${eventId} and channel = 'inapp' and destination not like 'c%' order by destination`;
/** The in-app timeline lines of the named users, as `user state`. */
const linesOf = async (tenantId: string, eventId: string) =>
  (await timelineOf(env.db, tenantId, eventId)).filter((line) => line.channel === 'inapp' && !line.destination.startsWith('c')).map((line) => `${line.destination} ${line.state}`);
/** Whether each recorded batch of the event is written. */
const writtenOf = async (eventId: string) =>
  (await env.db.$client<{ written: boolean }[]>`select written_at is not null as written from inapp_batches where event_id = ${eventId} order by batch`).map((row) => row.written);

describe('in-app batches written as one group', () => {
  it('writes each batch’s rows with its own event’s text, announces each once, marks the batches written, and counts per batch', async () => {
    await publishRouted({ id: 'grp_a', tenantId: 'acme', assigneeUserIds: ['a1', 'a2', 'a3', ...acmeCrowd], data: { title: 'Acme finding' } });
    await publishRouted({ id: 'grp_g', tenantId: 'globex', assigneeUserIds: ['g1', ...globexCrowd], data: { title: 'Globex finding' } });
    expect(await inboxOf('grp_a')).toEqual([]);
    expect(await linesOf('acme', 'grp_a')).toEqual(['a1 pending', 'a2 pending', 'a3 pending']);
    expect(await writtenOf('grp_a')).toEqual([false]);

    // Two parts of one event's batch, one of another, one of an event that is not stored, one repeated.
    const results = await writeInappBatches(
      [
        { tenantId: 'acme', eventId: 'grp_a', batch: 0, userIds: ['a1', 'a2'] },
        { tenantId: 'globex', eventId: 'grp_g', batch: 0, userIds: ['g1'] },
        { tenantId: 'acme', eventId: 'grp_missing', batch: 0, userIds: ['a1'] },
        { tenantId: 'acme', eventId: 'grp_a', batch: 0, userIds: ['a3'] },
        { tenantId: 'globex', eventId: 'grp_g', batch: 0, userIds: ['g1'] },
      ],
      deps,
    );
    expect(results.map((r) => r.written)).toEqual([2, 1, 0, 1, 1]);
    // The frames are out when the write returns; the batches are marked written after them.
    await Promise.all(results.map((r) => r.marked));
    expect(await writtenOf('grp_a')).toEqual([true]);
    expect(await writtenOf('grp_g')).toEqual([true]);

    expect(await inboxOf('grp_a')).toEqual([
      { user_id: 'a1', tenant_id: 'acme', title: 'Acme finding' },
      { user_id: 'a2', tenant_id: 'acme', title: 'Acme finding' },
      { user_id: 'a3', tenant_id: 'acme', title: 'Acme finding' },
    ]);
    expect(await inboxOf('grp_g')).toEqual([{ user_id: 'g1', tenant_id: 'globex', title: 'Globex finding' }]);
    // Their rows are their deliveries' records: no delivery row is written or updated for them.
    expect(await statesOf('grp_a')).toEqual([]);
    expect(await linesOf('acme', 'grp_a')).toEqual(['a1 sent', 'a2 sent', 'a3 sent']);
    expect(await linesOf('globex', 'grp_g')).toEqual(['g1 sent']);

    const notificationFrames = () => frames.filter((f) => f.frame.type === 'notification').map((f) => `${f.channel.split(':').pop()} ${f.frame.data.eventId}`);
    await eventually(async () => notificationFrames().length >= 4);
    expect(notificationFrames().sort()).toEqual(['a1 grp_a', 'a2 grp_a', 'a3 grp_a', 'g1 grp_g']);
    // Each user's unread count follows their notification, in their own tenant.
    const unread = frames.filter((f) => f.frame.type === 'unread_count' && f.channel.endsWith(':g1'));
    expect(unread.at(-1)!.frame).toMatchObject({ data: { unread: 1 }, counts: { globex: { unread: 1 } } });
  });

  it('writes and announces nothing twice when the same batches run again', async () => {
    const before = frames.length;
    const results = await writeInappBatches(
      [
        { tenantId: 'acme', eventId: 'grp_a', batch: 0, userIds: ['a1', 'a2', 'a3'] },
        { tenantId: 'globex', eventId: 'grp_g', batch: 0, userIds: ['g1'] },
      ],
      deps,
    );
    expect(results.map((r) => r.written)).toEqual([0, 0]);
    await Promise.all(results.map((r) => r.marked));
    expect((await inboxOf('grp_a')).length).toBe(3);
    expect(await framesUntilFence(before)).toEqual([]);
  });

  it('announces again the rows of a batch written before a crash that left it unmarked', async () => {
    await env.db.$client`update inapp_batches set written_at = null where event_id = 'grp_a'`;
    const before = frames.length;
    const results = await writeInappBatches([{ tenantId: 'acme', eventId: 'grp_a', batch: 0, userIds: ['a1', 'a2', 'a3'] }], deps);
    expect(results.map((r) => r.written)).toEqual([3]);
    await results[0]!.marked;
    expect((await inboxOf('grp_a')).length).toBe(3);
    expect(await writtenOf('grp_a')).toEqual([true]);
    const announced = (await framesUntilFence(before)).map((f) => `${f.channel.split(':').pop()} ${f.frame.type}`);
    expect(announced.sort()).toEqual(['a1 notification', 'a1 unread_count', 'a2 notification', 'a2 unread_count', 'a3 notification', 'a3 unread_count']);
  });

  it('finishes a job from before batches were recorded: marks its pending deliveries sent, and announces again only a row whose delivery a crash left pending', async () => {
    await publishRouted({ id: 'grp_old', tenantId: 'acme', assigneeUserIds: ['a1', 'a2', ...acmeCrowd] });
    // As an older router left it: a pending delivery row per person, no batch.
    await env.db.$client`delete from inapp_batches where event_id = 'grp_old'`;
    await env.db.$client`
      insert into deliveries (tenant_id, event_id, channel, destination, user_id, state)
      select 'acme', 'grp_old', 'inapp', u, u, 'pending' from unnest(array['a1', 'a2']) as u`;
    const legacy = { tenantId: 'acme', eventId: 'grp_old', userIds: ['a1', 'a2'] };
    const [first] = await writeInappBatches([legacy], deps);
    expect(first!.written).toBe(2);
    await first!.marked;
    expect(await statesOf('grp_old')).toEqual(['a1', 'a2'].map((destination) => ({ destination, state: 'sent', attempts: 1 })));
    expect(await linesOf('acme', 'grp_old')).toEqual(['a1 sent', 'a2 sent']);

    await env.db.$client`update deliveries set state = 'pending' where event_id = 'grp_old' and destination = 'a2' and channel = 'inapp'`;
    const before = frames.length;
    const [again] = await writeInappBatches([legacy], deps);
    expect(again!.written).toBe(1);
    await again!.marked;
    expect((await statesOf('grp_old')).map((r) => r.state)).toEqual(['sent', 'sent']);
    expect((await framesUntilFence(before)).map((f) => `${f.channel.split(':').pop()} ${f.frame.type}`)).toEqual(['a2 notification', 'a2 unread_count']);
  });

  it('sends a frame that is the notification as the inbox lists it', async () => {
    await publishRouted({ id: 'grp_view', tenantId: 'acme', actorId: 'a2', severity: 'high', assigneeUserIds: ['a1', ...acmeCrowd], data: { title: 'Viewed', actions: [{ label: 'Open', url: '/findings/7' }], nested: { n: 1.5, list: ['x'] } } });
    const before = frames.length;
    const [result] = await writeInappBatches([{ tenantId: 'acme', eventId: 'grp_view', batch: 0, userIds: ['a1'] }], deps);
    await result!.marked;
    const [frame] = (await framesUntilFence(before)).filter((f) => f.frame.type === 'notification');
    const listed = await api.get('/api/v1/notifications?limit=50', await env.userToken('a1', ['acme']));
    expect(listed.status).toBe(200);
    const item = listed.body.items.find((n: { eventId: string }) => n.eventId === 'grp_view');
    expect(item).toMatchObject({ actor: { id: 'a2', name: 'a2' }, actions: [{ label: 'Open', url: '/findings/7' }], severity: 'high' });
    expect(frame!.frame.data).toEqual(item);
  });

  it('publishes a fan-out’s frames only to the users someone listens to', async () => {
    await publishRouted({ id: 'grp_heard', tenantId: 'acme', assigneeUserIds: ['a1', ...acmeCrowd] });
    publishedTo.length = 0;
    const before = frames.length;
    const [result] = await writeInappBatches([{ tenantId: 'acme', eventId: 'grp_heard', batch: 0, userIds: ['a1', ...acmeCrowd] }], deps);
    await result!.marked;
    expect(result!.written).toBe(1 + acmeCrowd.length);
    expect((await inboxOf('grp_heard')).length).toBe(1 + acmeCrowd.length);
    expect((await framesUntilFence(before)).map((f) => `${f.channel.split(':').pop()} ${f.frame.type}`)).toEqual(['a1 notification', 'a1 unread_count']);
    // Nothing went to the crowd, whose channels nobody subscribed to: the watcher saw the fence, published after the write.
    await eventually(async () => publishedTo.includes('g1 notification.read'));
    expect(publishedTo.filter((f) => f !== 'g1 notification.read')).toEqual(['a1 notification', 'a1 unread_count']);
  });

  it('takes each user’s priority and rule from the batch when it carries them, not from the deliveries', async () => {
    await publishRouted({ id: 'grp_carried', tenantId: 'acme', assigneeUserIds: ['a1', 'a2', ...acmeCrowd] });
    const [result] = await writeInappBatches([{ tenantId: 'acme', eventId: 'grp_carried', batch: 0, userIds: ['a1', 'a2'], priorities: ['urgent', 'low'], ruleIds: [null, null] }], deps);
    await result!.marked;
    const rows = await env.db.$client`select user_id, priority from notifications where event_id = 'grp_carried' order by user_id`;
    expect(rows.map((r) => [r.user_id, r.priority])).toEqual([
      ['a1', 'urgent'],
      ['a2', 'low'],
    ]);
  });

  it('finds the listeners among thousands of users, asked in commands of a bounded size', async () => {
    const many = Array.from({ length: 2_500 }, (_, i) => `nobody${i}`);
    many.splice(1_500, 0, 'a1');
    many.push('g1');
    expect(await deps.frames.listeningUsers(many)).toEqual(new Set(['a1', 'g1']));
  });

  it('counts everyone as listening when Redis cannot say who is: a frame too many, never one too few', async () => {
    const unreachable = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false });
    try {
      const frames = createFramePublisher(unreachable, env.config.REDIS_PREFIX);
      expect(await frames.listeningUsers(['a1', 'nobody'])).toEqual(new Set(['a1', 'nobody']));
    } finally {
      unreachable.disconnect();
    }
  });
});
