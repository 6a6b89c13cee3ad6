import { request } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inboxStreamSource } from '../../src/inbox/inboxStore.ts';
import { userChannel } from '../../src/realtime/liveFrames.ts';
import type { SseHub, StreamSource } from '../../src/realtime/sseHub.ts';
import { apiClient, eventually, type ApiClient } from '../helpers/api.ts';
import { openStream, startHubServer } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * Issue #21: a stream whose open is slow (a loaded database, a reconnect storm) must not be
 * written to before its headers — a heartbeat used to do exactly that and kill it. Here the
 * hub beats every 2 ms while every read of the open takes 100 ms.
 */
const USERS = Array.from({ length: 100 }, (_, i) => `s${String(i).padStart(3, '0')}`);
const SLOW_MS = 100;

let env: TestEnv;
let api: ApiClient;
let hub: SseHub;
let baseUrl: string;
let closeHub: (() => Promise<void>) | undefined;
const logLines: { level: number; msg: string }[] = [];
const openErrors: unknown[] = [];
const streams: { close(): void }[] = [];

const slow = <T>(value: Promise<T>) => new Promise<T>((resolve, reject) => setTimeout(() => value.then(resolve, reject), SLOW_MS));

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await api.put('/api/v1/tenants/acme', { name: 'Acme' });
  await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme'] from unnest(${USERS}::text[]) as id`;
  // One notification each before the streams open: what their replay must carry.
  const events = USERS.map((userId) => ({ id: `before_${userId}`, type: 'finding_created', tenantId: 'acme', assigneeUserIds: [userId], data: { title: 'before' } }));
  expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);
  await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications where event_id like 'before_%'`)[0]!.n === USERS.length);

  const { db } = env;
  const inbox = inboxStreamSource(db);
  const source: StreamSource = {
    notificationsAfter: (...args) => slow(inbox.notificationsAfter(...args)),
    latestCursor: (userId) => slow(inbox.latestCursor(userId)),
    counts: (userId, tenantIds) => slow(inbox.counts(userId, tenantIds)),
    carried: () => {},
  };
  const sink = new Writable({
    write(chunk, _encoding, done) {
      const line = JSON.parse(String(chunk)) as { level: number; msg: string };
      logLines.push(line);
      done();
    },
  });
  ({ hub, baseUrl, close: closeHub } = await startHubServer(env, { source, logger: pino({ level: 'debug' }, sink), heartbeatMs: 2 }, (hub, req, res) => {
    const userId = new URL(req.url!, 'http://x').searchParams.get('user')!;
    hub.open(req, res, { userId, tenantIds: ['acme'] }).catch((err: unknown) => {
      openErrors.push(err);
      if (!res.headersSent) res.writeHead(500).end();
    });
  }));
});

afterAll(async () => {
  for (const s of streams) s.close();
  await closeHub?.();
  await env?.cleanup();
});

/** A real EventSource on our hub (the token is not read: the test server takes the user from the URL). */
function streamOf(userId: string, lastEventId?: string) {
  const s = openStream(baseUrl, 'unused', { path: `/stream?user=${userId}`, ...(lastEventId && { lastEventId }) });
  streams.push(s);
  return s;
}

describe('opening streams while heartbeats fire', () => {
  it('opens 100 slow streams with status 200, each with its replay, its count and later live frames, and logs no error', async () => {
    const opened = USERS.map((userId) => streamOf(userId, '0'));
    await Promise.all(opened.map((s) => s.opened));
    for (const [i, s] of opened.entries()) {
      const [replayed] = await s.waitFor((f) => f.type === 'notification');
      expect(replayed!.data.eventId).toBe(`before_${USERS[i]}`);
      await s.waitFor((f) => f.type === 'unread_count' && f.data.unread === 1);
    }

    const events = USERS.map((userId) => ({ id: `after_${userId}`, type: 'finding_created', tenantId: 'acme', assigneeUserIds: [userId], data: { title: 'after' } }));
    expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);
    for (const [i, s] of opened.entries()) {
      const notifications = await s.waitFor((f) => f.type === 'notification', 2);
      expect(notifications.map((f) => f.data.eventId)).toEqual([`before_${USERS[i]}`, `after_${USERS[i]}`]);
      await s.waitFor((f) => f.type === 'unread_count' && f.data.unread === 2);
    }
    expect(openErrors).toEqual([]);
    expect(logLines.filter((line) => line.level >= 40)).toEqual([]);
    expect(hub.stats().connections).toBe(USERS.length);
  });

  it('sends heartbeats to an open stream, and none before its headers', async () => {
    const chunks: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(`${baseUrl}/stream?user=${USERS[0]}`, (res) => {
        expect(res.statusCode).toBe(200);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          chunks.push(chunk);
          if (chunks.join('').split(': heartbeat').length > 3) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
    // The body starts with the reconnect hint the headers go with, not with a heartbeat.
    expect(chunks.join('').startsWith('retry: ')).toBe(true);
  });

  it('leaves no subscription behind when the client leaves during the open', async () => {
    const userId = 'leaves_early';
    const channel = userChannel(env.config.REDIS_PREFIX, userId);
    // The 100 streams of the first test are still open; the one of the second has gone.
    await eventually(async () => hub.stats().connections === USERS.length);
    const before = hub.stats().connections;
    const req = request(`${baseUrl}/stream?user=${userId}`);
    req.on('error', () => {});
    req.end();
    // Gone while the hub waits on its slow reads.
    await eventually(async () => (await env.redis.pubsub('CHANNELS', channel)).length === 1);
    req.destroy();
    await eventually(async () => (await env.redis.pubsub('CHANNELS', channel)).length === 0 && hub.stats().connections === before, 5_000);
    // After the reads finish, nothing writes to or re-subscribes the closed stream.
    await new Promise((resolve) => setTimeout(resolve, SLOW_MS * 2));
    expect(await env.redis.pubsub('CHANNELS', channel)).toEqual([]);
    expect(hub.stats().connections).toBe(before);
    expect(openErrors).toEqual([]);
  });
});
