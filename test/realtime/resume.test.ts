import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentKey } from '../../src/inbox/inboxContent.ts';
import { announceInboxRowsToListeners, insertInboxRows, type InboxPairs } from '../../src/inbox/inboxWriter.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { notificationFrames, streamTracker } from '../helpers/sse.ts';
import { acmeContent as content } from '../helpers/inboxContent.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * Issue #20: a stream resumed from any cursor it saw must replay every row committed after it,
 * however many processes write inboxes. Ids come from a sequence at insert time, so with an id
 * cursor a row inserted first and committed last could slip behind a cursor a client already
 * holds. The cursor is a per-user seq numbered under a per-user lock instead: a second writer
 * of the same user waits for the first to commit, so rows commit in cursor order.
 */

let env: TestEnv;
let api: ApiClient;
let web: Awaited<ReturnType<TestEnv['startWeb']>>;
const streams = streamTracker();

beforeAll(async () => {
  env = await createTestEnv();
  web = await env.startWeb();
  api = apiClient(web.url);
  await env.startRouter();
  await seedDirectory(api, 'acme', ['ursula', 'victor']);
});
afterAll(async () => {
  streams.closeAll();
  await env?.cleanup();
});

const stream = streams.open;

/** One row for a user of acme, with its event's default content. */
const pairFor = (eventId: string, userId: string): InboxPairs => ({
  tenantIds: ['acme'],
  eventIds: [eventId],
  userIds: [userId],
  contentKeys: [contentKey({ tenantId: 'acme', id: eventId }, null)],
  priorities: ['normal'],
});


describe('resume when two writers write one user’s inbox', () => {
  it('holds a second writer behind the first, so a client resuming after either gets both, each once', async () => {
    const token = await env.userToken('ursula', ['acme']);
    const first = stream(web.url, token);
    await first.opened;
    await first.waitFor((f) => f.type === 'unread_count');

    // Writer A: a row for ursula in a transaction held open (its process is slow to commit).
    await env.db.$client`insert into events (id, tenant_id, type, envelope, occurred_at) values ('writer_a', 'acme', 'finding_created', '{}'::jsonb, now())`;
    let commitA!: () => void;
    const aCommitted = env.db.transaction(async (tx) => {
      await insertInboxRows(tx, [content('writer_a')], pairFor('writer_a', 'ursula'));
      await new Promise<void>((resolve) => (commitA = resolve));
    });
    await eventually(async () => commitA !== undefined);

    // Writer B: the router, writing an event published now. It must wait for A.
    expect((await api.post('/api/v1/events', { id: 'writer_b', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['ursula'] })).status).toBe(202);
    await eventually(async () => (await env.db.$client`select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await env.db.$client`select event_id from notifications where user_id = 'ursula'`).toEqual([]);
    expect(notificationFrames(first.frames)).toEqual([]);

    // The client leaves holding the cursor it has; A commits (its frame never sent), then B.
    const lastSeen = first.frames.at(-1)!.id;
    first.close();
    commitA();
    await aCommitted;
    await eventually(async () => (await env.db.$client`select 1 from notifications where event_id = 'writer_b'`).length === 1);

    const rows = await env.db.$client<{ event_id: string; seq: string }[]>`select event_id, seq::text from notifications where user_id = 'ursula' order by seq`;
    expect(rows.map((r) => r.event_id)).toEqual(['writer_a', 'writer_b']);

    const resumed = stream(web.url, token, { lastEventId: lastSeen });
    await resumed.waitFor((f) => f.type === 'notification', 2);
    await resumed.waitFor((f) => f.type === 'unread_count' && f.data.unread === 2);
    expect(notificationFrames(resumed.frames).map((f) => [f.data.eventId, f.id])).toEqual(rows.map((r) => [r.event_id, r.seq]));

    // Resuming from B's frame, the newest, replays nothing: A is behind it, committed before it.
    const again = stream(web.url, token, { lastEventId: notificationFrames(resumed.frames).at(-1)!.id });
    await again.waitFor((f) => f.type === 'unread_count');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(notificationFrames(again.frames)).toEqual([]);
  });

  it('does not make writers of different users wait for each other', async () => {
    await env.db.$client`insert into events (id, tenant_id, type, envelope, occurred_at) values ('writer_c', 'acme', 'finding_created', '{}'::jsonb, now())`;
    let commitC!: () => void;
    const cCommitted = env.db.transaction(async (tx) => {
      await insertInboxRows(tx, [content('writer_c')], pairFor('writer_c', 'ursula'));
      await new Promise<void>((resolve) => (commitC = resolve));
    });
    await eventually(async () => commitC !== undefined);
    // Victor's row goes through while ursula's writer holds her lock.
    expect((await api.post('/api/v1/events', { id: 'writer_d', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['victor'] })).status).toBe(202);
    await eventually(async () => (await env.db.$client`select 1 from notifications where event_id = 'writer_d' and user_id = 'victor'`).length === 1);
    commitC();
    await cCommitted;
  });

  it('carries a user’s notifications in cursor order, each once, when their frames cross on the way', async () => {
    const token = await env.userToken('victor', ['acme']);
    const tab = stream(web.url, token);
    await tab.opened;
    await tab.waitFor((f) => f.type === 'unread_count');
    await env.db.$client`insert into events (id, tenant_id, type, envelope, occurred_at)
      values ('cross_1', 'acme', 'finding_created', '{}'::jsonb, now()), ('cross_2', 'acme', 'finding_created', '{}'::jsonb, now())`;
    // Two writers commit in order (1, then 2)…
    const first = await insertInboxRows(env.db, [content('cross_1')], pairFor('cross_1', 'victor'));
    const second = await insertInboxRows(env.db, [content('cross_2')], pairFor('cross_2', 'victor'));
    // …but the second one's frame comes first.
    const frames = createFramePublisher(env.redis, env.config.REDIS_PREFIX);
    await announceInboxRowsToListeners(frames, second);
    await tab.waitFor((f) => f.type === 'notification', 2);
    await announceInboxRowsToListeners(frames, first);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The stream read the first from the inbox before it sent the second, and did not send the first again.
    expect(notificationFrames(tab.frames).map((f) => f.data.eventId)).toEqual(['cross_1', 'cross_2']);
    const ids = notificationFrames(tab.frames).map((f) => BigInt(f.id));
    expect(ids[0]! < ids[1]!).toBe(true);
  });
});
