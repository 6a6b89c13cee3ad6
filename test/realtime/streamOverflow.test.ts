import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inboxStreamSource } from '../../src/inbox/inboxStore.ts';
import type { SseHub } from '../../src/realtime/sseHub.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startHubServer } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * A client that falls behind (a phone on a bad network, a tab the browser throttles) overflows
 * its stream's queue, and the frames past it are dropped. Dropping may not lose anything: the
 * stream ends once what was queued is out, and the client's resume from the last id it really
 * got replays the rest. Here the hub's queue holds two frames and the client stops reading
 * while 200 KB notifications are written for it until the hub has had to drop some.
 */
/** Notifications are written in rounds of this many until the hub drops a frame. */
const ROUND = 20;
/**
 * The most written before the hub must have dropped one. The hub listens on a Unix socket
 * (SOCKET_PATH), whose buffers hold a few hundred KB whatever the machine. (Three CI runs saw
 * no drop after 12, 80 and 20 MB: the hub had lost its subscription while its subscriber
 * connected and got no frame at all — see test/realtime/subscriptions.test.ts.)
 */
const MAX_EVENTS = 100;
const SOCKET_PATH = join(tmpdir(), `herald-overflow-${process.pid}.sock`);
const BLOB = 'x'.repeat(200 * 1024);

let env: TestEnv;
let api: ApiClient;
let hub: SseHub;
let baseUrl: string;
let closeHub: (() => Promise<void>) | undefined;

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await seedDirectory(api, 'acme', ['behind']);
  ({ hub, baseUrl, close: closeHub } = await startHubServer(
    env,
    { source: inboxStreamSource(env.db), logger: pino({ level: 'silent' }), bufferLimit: 2 },
    (hub, req, res) => void hub.open(req, res, { userId: 'behind', tenantIds: ['acme'] }),
    SOCKET_PATH,
  ));
});

afterAll(async () => {
  await closeHub?.();
  await env?.cleanup();
});

type RawFrame = { id: string; type: string; data: { eventId?: string } };

/** The frames of a raw event-stream body (the parts a browser's EventSource would dispatch). */
function parseFrames(body: string): RawFrame[] {
  const frames: RawFrame[] = [];
  // The text after the last blank line is a frame still arriving.
  for (const block of body.split('\n\n').slice(0, -1)) {
    const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}:`))?.slice(name.length + 1).trim();
    const [id, type, data] = [field('id'), field('event'), field('data')];
    if (id !== undefined && type !== undefined && data !== undefined) frames.push({ id, type, data: JSON.parse(data) });
  }
  return frames;
}

/** Reads a stream the way a browser would, from `lastEventId`, until the server ends it or `enough` holds for what came. */
async function readStream(response: IncomingMessage, enough: (frames: RawFrame[]) => boolean): Promise<{ frames: RawFrame[]; endedByServer: boolean }> {
  let body = '';
  response.setEncoding('utf8');
  return new Promise((resolve) => {
    response.on('data', (chunk: string) => {
      body += chunk;
      if (enough(parseFrames(body))) {
        response.destroy();
        resolve({ frames: parseFrames(body), endedByServer: false });
      }
    });
    response.on('end', () => resolve({ frames: parseFrames(body), endedByServer: true }));
    response.resume();
  });
}

function openRaw(lastEventId?: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/stream`, { socketPath: SOCKET_PATH, headers: lastEventId ? { 'last-event-id': lastEventId } : {} }, (res) => {
      res.pause();
      resolve(res);
    });
    req.on('error', reject);
    req.end();
  });
}

it('a client that stopped reading loses nothing: its stream ends after what was queued, and resuming from the last id it got replays the rest once', async () => {
  const response = await openRaw();
  expect(response.statusCode).toBe(200);
  await eventually(async () => hub.stats().connections === 1);

  const ids: string[] = [];
  const written = async () => (await env.db.$client`select count(*)::int as n from notifications where user_id = 'behind'`)[0]!.n;
  while (hub.stats().droppedFrames === 0 && ids.length < MAX_EVENTS) {
    // Until the hub drops a frame the stream stays open: a closed one would take every frame silently.
    expect(hub.stats().connections).toBe(1);
    for (let i = 0; i < ROUND; i++) {
      const res = await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['behind'], data: { title: `big ${ids.length}`, blob: BLOB } });
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
    }
    await eventually(async () => (await written()) === ids.length, 30_000);
  }
  await eventually(async () => hub.stats().droppedFrames > 0, 20_000);
  const total = ids.length;

  // Reading again: what was queued arrives, then the server ends the stream with a short retry.
  const received: string[] = [];
  const notifications = (frames: RawFrame[]) => frames.filter((f) => f.type === 'notification').map((f) => f.data.eventId!);
  let { frames, endedByServer } = await readStream(response, () => false);
  expect(endedByServer).toBe(true);
  received.push(...notifications(frames));
  expect(received.length).toBeLessThan(total);

  // The client comes back with the id of the last frame it got, as often as it must: a replay of
  // 200 KB notifications overflows this two-frame queue too, but every stream carries some more.
  let resumes = 0;
  while (received.length < total && resumes < total) {
    resumes++;
    const again = await openRaw(frames.at(-1)!.id);
    ({ frames, endedByServer } = await readStream(again, (got) => received.length + notifications(got).length >= total));
    received.push(...notifications(frames));
  }
  expect(received).toEqual(ids);
}, 240_000);
