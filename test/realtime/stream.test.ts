import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventTimeline } from '../../src/deliveries/timeline.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { notificationFrames, openStream, streamTracker } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';
import type { Web } from '../../src/http/web.ts';

let env: TestEnv;
let instanceA: Web;
let instanceB: Web;
let api: ApiClient;
const streams = streamTracker();

beforeAll(async () => {
  env = await createTestEnv();
  instanceA = await env.startWeb();
  instanceB = await env.startWeb();
  await env.startRouter();
  await env.startInapp();
  api = apiClient(instanceA.url);
  await seedDirectory(api, 'acme', ['alice', 'bob', 'carol']);
  await seedDirectory(api, 'globex', ['gina']);
});
afterAll(async () => {
  streams.closeAll();
  await env?.cleanup();
});

const stream = streams.open;

const publish = (body: Record<string, unknown>) => api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', ...body });

/**
 * Publishes an event of `tenantId` naming nobody and waits for its tenant-wide frame on `tab`.
 * An instance hears every channel over one Redis connection, in publish order, so frames
 * published before this one have reached the tab by then: a "never arrives" check made after it
 * waits on that order, not on a clock.
 */
async function fenceFor(tab: ReturnType<typeof openStream>, tenantId: string, id: string): Promise<void> {
  expect((await api.post('/api/v1/events', { id, tenantId, type: 'fence', assigneeUserIds: [] })).status).toBe(202);
  await tab.waitFor((f) => f.type === 'event' && f.data.id === id);
}

describe('GET /api/v1/events (live stream)', () => {
  it('carries a notification for an event accepted on another instance, to every open tab', async () => {
    const token = await env.userToken('alice', ['acme']);
    const tab1 = stream(instanceB.url, token);
    const tab2 = stream(instanceB.url, token);
    await Promise.all([tab1.opened, tab2.opened]);
    await tab1.waitFor((f) => f.type === 'unread_count');

    expect((await publish({ id: 'live_1', assigneeUserIds: ['alice'], data: { title: 'Live one' } })).status).toBe(202);
    for (const tab of [tab1, tab2]) {
      const [frame] = await tab.waitFor((f) => f.type === 'notification');
      expect(frame!.data).toMatchObject({ eventId: 'live_1', title: 'Live one', tenantId: 'acme', readAt: null });
      // The frame id is the stream's cursor (opaque to clients), not the row's id.
      expect(frame!.id).toMatch(/^\d+$/);
      await tab.waitFor((f) => f.type === 'unread_count' && f.data.unread >= 1);
    }
    // The stream carried it, so the timeline shows the in-app delivery delivered.
    await eventually(async () => {
      const lines = await eventTimeline(env.db, 'acme', 'live_1');
      return lines.some((line) => line.channel === 'inapp' && line.destination === 'alice' && line.state === 'delivered' && line.deliveredAt !== null);
    });
  });

  it('carries one tenant frame to every stream of the tenant, and survives a frame whose data is not an object', async () => {
    const [aliceTab, bobTab] = [stream(instanceA.url, await env.userToken('alice', ['acme'])), stream(instanceA.url, await env.userToken('bob', ['acme']))];
    await Promise.all([aliceTab.opened, bobTab.opened]);
    const frames = createFramePublisher(env.redis, env.config.REDIS_PREFIX);
    // Frames come off Redis unchecked; one with null data (a publisher's bug) must not end the hub's handling.
    await frames.toTenants([{ tenantId: 'acme', frame: { type: 'event', data: null as never } }]);
    const data = { id: 'shared_1', type: 'maintenance', tenantId: 'acme', severity: 'info', occurredAt: new Date().toISOString(), data: { title: 'Tonight' } };
    await frames.toTenants([{ tenantId: 'acme', frame: { type: 'event', data } }]);
    for (const tab of [aliceTab, bobTab]) {
      const [nullFrame] = await tab.waitFor((f) => f.type === 'event' && f.data === null);
      expect(nullFrame).toBeDefined();
      const [frame] = await tab.waitFor((f) => f.type === 'event' && f.data?.id === 'shared_1');
      expect(frame!.data).toEqual(data);
    }
  });

  it('gives each stream of a person in two tenants only its own tenants’ counts and read marks', async () => {
    expect((await api.put('/api/v1/users/max', { email: 'max@both.example', name: 'Max', tenantIds: ['acme', 'globex'] })).status).toBe(201);
    const acmeToken = await env.userToken('max', ['acme']);
    const globexToken = await env.userToken('max', ['globex']);
    const acmeTab = stream(instanceA.url, acmeToken);
    const globexTab = stream(instanceB.url, globexToken);
    await Promise.all([acmeTab.opened, globexTab.opened]);
    await globexTab.waitFor((f) => f.type === 'unread_count');

    await publish({ id: 'two_tenants_acme_1', assigneeUserIds: ['max'] });
    await publish({ id: 'two_tenants_acme_2', assigneeUserIds: ['max'] });
    expect((await api.post('/api/v1/events', { tenantId: 'globex', type: 'finding_created', id: 'two_tenants_globex', assigneeUserIds: ['max'] })).status).toBe(202);
    await globexTab.waitFor((f) => f.type === 'notification' && f.data.eventId === 'two_tenants_globex');
    const acmeNotes = await acmeTab.waitFor((f) => f.type === 'notification', 2);
    await acmeTab.waitFor((f) => f.type === 'unread_count' && f.data.unread === 2);
    await globexTab.waitFor((f) => f.type === 'unread_count' && f.data.unread === 1);

    // Reads in the acme inbox change acme's count; the globex stream hears of neither.
    await api.post(`/api/v1/notifications/${acmeNotes[0]!.data.id}/read`, undefined, acmeToken);
    await acmeTab.waitFor((f) => f.type === 'notification.read');
    await api.post('/api/v1/notifications/read-all', undefined, acmeToken);
    await acmeTab.waitFor((f) => f.type === 'notifications.read_all' && f.data.updated === 1);
    await acmeTab.waitFor((f) => f.type === 'unread_count' && f.data.unread === 0);
    // Every acme frame went out before this globex one: the globex stream's instance gets them all
    // over one Redis connection, in order, so once it is here anything acme's leaking would be too.
    await fenceFor(globexTab, 'globex', 'two_tenants_fence');
    expect(globexTab.frames.filter((f) => f.type === 'notification').map((f) => f.data.eventId)).toEqual(['two_tenants_globex']);
    expect(globexTab.frames.some((f) => f.type === 'notification.read' || f.type === 'notifications.read_all')).toBe(false);
    expect(globexTab.frames.filter((f) => f.type === 'unread_count').every((f) => f.data.unread <= 1)).toBe(true);
    expect(globexTab.frames.filter((f) => f.type === 'unread_count').at(-1)!.data.unread).toBe(1);
  });

  it('sends read and read-all frames to every tab', async () => {
    const token = await env.userToken('bob', ['acme']);
    const tab1 = stream(instanceA.url, token);
    const tab2 = stream(instanceB.url, token);
    await Promise.all([tab1.opened, tab2.opened]);
    await publish({ id: 'live_read', assigneeUserIds: ['bob'] });
    const [note] = await tab1.waitFor((f) => f.type === 'notification');
    await api.post(`/api/v1/notifications/${note!.data.id}/read`, undefined, token);
    await tab2.waitFor((f) => f.type === 'notification.read' && f.data.id === note!.data.id);
    await tab2.waitFor((f) => f.type === 'unread_count' && f.data.unread === 0);
    await publish({ id: 'live_read_2', assigneeUserIds: ['bob'] });
    await tab2.waitFor((f) => f.type === 'notification', 2);
    await api.post('/api/v1/notifications/read-all', undefined, token);
    const [all] = await tab1.waitFor((f) => f.type === 'notifications.read_all');
    expect(all!.data).toEqual({ updated: 1 });
  });

  it('carries tenant events without their recipients, only to users of that tenant', async () => {
    const acme = stream(instanceA.url, await env.userToken('carol', ['acme']));
    const globex = stream(instanceA.url, await env.userToken('gina', ['globex']));
    await Promise.all([acme.opened, globex.opened]);
    await publish({ id: 'live_evt', severity: 'critical', actorId: 'alice', assigneeUserIds: ['bob'], recipientUserIds: ['alice'], data: { title: 'Scan' } });
    const [frame] = await acme.waitFor((f) => f.type === 'event' && f.data.id === 'live_evt');
    expect(frame!.data).toEqual({ id: 'live_evt', type: 'finding_created', tenantId: 'acme', severity: 'critical', occurredAt: expect.any(String), data: { title: 'Scan' } });
    await fenceFor(globex, 'globex', 'live_evt_fence');
    expect(globex.frames.filter((f) => f.type === 'event').map((f) => f.data.id)).toEqual(['live_evt_fence']);
  });

  it('replays exactly the missed notifications after Last-Event-ID, from any frame type', async () => {
    await seedDirectory(api, 'acme', ['dave']);
    const token = await env.userToken('dave', ['acme']);
    const first = stream(instanceA.url, token);
    await first.opened;
    await publish({ id: 'replay_1', assigneeUserIds: ['dave'] });
    await first.waitFor((f) => f.type === 'notification');
    await first.waitFor((f) => f.type === 'unread_count' && f.data.unread === 1);
    await first.waitFor((f) => f.type === 'event' && f.data.id === 'replay_1');
    // The last frame seen is not the notification itself (a count or the tenant's event frame): resuming from it must work too.
    const last = first.frames[first.frames.length - 1]!;
    expect(last.type).not.toBe('notification');
    const lastSeen = last.id;
    first.close();

    for (const id of ['replay_2', 'replay_3']) await publish({ id, assigneeUserIds: ['dave'] });
    await eventually(async () => (await api.get('/api/v1/notifications/summary', token)).body.total === 3);

    const resumed = stream(instanceB.url, token, { lastEventId: lastSeen });
    await resumed.opened;
    await resumed.waitFor((f) => f.type === 'notification', 2);
    await publish({ id: 'replay_4', assigneeUserIds: ['dave'] });
    await resumed.waitFor((f) => f.type === 'notification', 3);
    // A later notification through the same path: a late or repeated copy of the others would come before it.
    await publish({ id: 'replay_5', assigneeUserIds: ['dave'] });
    await resumed.waitFor((f) => f.type === 'notification' && f.data.eventId === 'replay_5');
    expect(notificationFrames(resumed.frames).map((f) => f.data.eventId)).toEqual(['replay_2', 'replay_3', 'replay_4', 'replay_5']);
  });

  it('refuses a stream without a user token', async () => {
    const res = await fetch(`${instanceA.url}/api/v1/events`);
    expect(res.status).toBe(401);
    const withQuery = stream(`${instanceA.url}`, 'garbage');
    await expect(withQuery.opened).rejects.toThrow(/401/);
  });

  it('accepts the token as ?access_token= and as the herald_token cookie', async () => {
    const token = await env.userToken('alice', ['acme']);
    const attempts: { url: string; headers: Record<string, string> }[] = [
      { url: `/api/v1/events?access_token=${token}`, headers: {} },
      { url: '/api/v1/events', headers: { cookie: `herald_token=${token}` } },
    ];
    for (const init of attempts) {
      const controller = new AbortController();
      const res = await fetch(instanceA.url + init.url, { headers: init.headers, signal: controller.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      controller.abort();
    }
  });

  it('lets a stalled client lose its own frames without delaying anyone else', async () => {
    await seedDirectory(api, 'acme', ['slow', 'fast']);
    const fast = stream(instanceB.url, await env.userToken('fast', ['acme']));
    await fast.opened;

    // A client that connects and then never reads a byte.
    const slowToken = await env.userToken('slow', ['acme']);
    const stalled = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${instanceB.url}/api/v1/events`, { headers: { authorization: `Bearer ${slowToken}` } }, (res) => {
        res.pause();
        resolve(res);
      });
      req.on('error', reject);
      req.end();
    });
    await eventually(async () => instanceB.hub.stats().connections >= 2);

    const frames = createFramePublisher(env.redis, env.config.REDIS_PREFIX);
    const big = 'x'.repeat(32 * 1024);
    const count = 400;
    for (let i = 0; i < count; i++) {
      const data = { id: `flood_${i}`, type: 'flood', tenantId: 'acme', severity: null, occurredAt: new Date().toISOString(), data: { big } };
      await frames.toTenants([{ tenantId: 'acme', frame: { type: 'event', data } }]);
    }
    // The fast client gets every frame while the stalled one's backlog overflows and is dropped.
    await fast.waitFor((f) => f.type === 'event' && f.data.type === 'flood', count, 20_000);
    expect(instanceB.hub.stats().droppedFrames).toBeGreaterThan(0);
    stalled.destroy();
  });
});
