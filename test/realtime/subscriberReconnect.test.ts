import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inboxStreamSource } from '../../src/inbox/inboxStore.ts';
import { createRedis } from '../../src/redis.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { notificationFrames, startHubServer, streamTracker } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * The hub hears frames over one pub/sub connection. While it is away (Redis restarting, a
 * network blip), frames published for its streams are lost on the way, and a stream would only
 * notice from a later frame of its user — maybe never. Once the connection is back, every stream
 * open while it was away ends with a retry hint, and the browser's resume from the last id it
 * got replays what was missed.
 */
const AWAY_MS = 1_500;

let env: TestEnv;
let api: ApiClient;
let baseUrl: string;
let closeHub: (() => Promise<void>) | undefined;
let subscriber: Redis;
const streams = streamTracker();

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await seedDirectory(api, 'acme', ['u1']);
  subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
  // Away long enough for an event to be routed and its frame published meanwhile.
  subscriber.options.retryStrategy = () => AWAY_MS;
  ({ baseUrl, close: closeHub } = await startHubServer(
    env,
    { source: inboxStreamSource(env.db), logger: pino({ level: 'silent' }), subscriber },
    (hub, req, res) => void hub.open(req, res, { userId: 'u1', tenantIds: ['acme'] }),
  ));
});

afterAll(async () => {
  streams.closeAll();
  await closeHub?.();
  await env?.cleanup();
});

const publish = async (id: string) => expect((await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] })).status).toBe(202);

it('a stream open while the hub’s subscriber was away gets what was published meanwhile, once, after it resumes', async () => {
  const stream = streams.open(baseUrl, 'the hub of this test asks for no token');
  await stream.opened;
  await publish('before');
  await stream.waitFor((f) => f.type === 'notification' && f.data.eventId === 'before');

  subscriber.disconnect(true);
  await eventually(async () => subscriber.status === 'reconnecting');
  await publish('while_away');
  await eventually(async () => (await env.db.$client`select 1 from notifications where event_id = 'while_away'`).length === 1);
  // The frame went out while nobody on this instance listened: only the resume can bring it.
  expect(subscriber.status).not.toBe('ready');

  await stream.waitFor((f) => f.type === 'notification' && f.data.eventId === 'while_away', 1, 15_000);
  expect(notificationFrames(stream.frames).map((f) => f.data.eventId)).toEqual(['before', 'while_away']);
}, 30_000);
