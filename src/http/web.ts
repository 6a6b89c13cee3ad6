import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Express } from 'express';
import { createServiceKeyStore } from '../auth/serviceKeys.ts';
import { createUserTokenVerifier } from '../auth/userTokens.ts';
import type { Config } from '../config.ts';
import { closeDb, connectSoon, createDb } from '../db/client.ts';
import { inboxStreamSource } from '../inbox/inboxStore.ts';
import { createIntake } from '../intake/acceptEvent.ts';
import { createRateLimiter } from '../intake/rateLimit.ts';
import type { Logger } from '../logger.ts';
import { addCollector } from '../metrics/processMetrics.ts';
import { closeQueues, createQueues } from '../queues/catalog.ts';
import { createInappReceipts } from '../realtime/inappReceipts.ts';
import { createFramePublisher } from '../realtime/liveFrames.ts';
import { createSseHub, type SseHub } from '../realtime/sseHub.ts';
import { createRedis, slotPrefix } from '../redis.ts';
import { createMailer } from '../email/mailer.ts';
import { createChangeAnnouncer } from '../templates/templateRenderer.ts';
import { createSlidingWindowLimiter } from '../slidingWindowLimit.ts';
import { createApp } from './app.ts';
import { createExpressServer } from './expressServer.ts';
import { TEST_SEND_LIMIT } from './routes/templates.ts';
import { createAuthenticator } from './authenticate.ts';

export type Web = {
  server: Server;
  url: string;
  hub: SseHub;
  /** The Express app the server runs, for anything that inspects its routes. */
  app: Express;
  close(): Promise<void>;
};

/** Wires one API instance from its configuration and starts listening. */
export async function startWeb(config: Config, logger: Logger, port = config.PORT): Promise<Web> {
  const db = connectSoon(createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE }));
  const redis = createRedis(config, 'command');
  const producer = createRedis(config, 'producer');
  const subscriber = createRedis(config, 'subscriber');
  const queues = createQueues(producer, slotPrefix(config), config.RETRY_BACKOFF_MS);
  const frames = createFramePublisher(redis, config.REDIS_PREFIX);
  const receipts = createInappReceipts(db, logger);
  const hub = createSseHub({
    subscriber,
    redis,
    prefix: config.REDIS_PREFIX,
    logger,
    heartbeatMs: config.SSE_HEARTBEAT_SECONDS * 1000,
    source: inboxStreamSource(db, (notification, userId) => receipts.record(notification.tenantId, notification.eventId, userId)),
  });
  const userTokens = { secret: config.JWT_SECRET, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE };
  const auth = createAuthenticator(createServiceKeyStore(config.SERVICE_KEYS), createUserTokenVerifier({ ...userTokens, maxAgeSeconds: config.JWT_MAX_AGE_SECONDS }));
  // Test-sends only: a couple of connections, opened on first use.
  const mailer = createMailer({ smtpUrl: config.SMTP_URL, from: config.EMAIL_FROM, maxConnections: 2, socketTimeoutMs: config.SMTP_TIMEOUT_MS });
  const app = createApp({
    db,
    redis,
    logger,
    auth,
    intake: createIntake({ db, routeQueue: queues.route, logger }),
    rateLimit: createRateLimiter(redis, config.REDIS_PREFIX, config.INTAKE_RATE_LIMIT),
    hub,
    frames,
    allowHosts: config.OUTBOUND_ALLOW_HOSTS,
    templates: {
      mailer,
      announceChange: createChangeAnnouncer(redis, config.REDIS_PREFIX, logger),
      testSendLimit: createSlidingWindowLimiter(redis, { prefix: config.REDIS_PREFIX, name: 'testsend', ...TEST_SEND_LIMIT }),
    },
    demoMode: config.HERALD_DEMO,
    userTokens,
    queues,
    adminBasicAuth: config.ADMIN_BASIC_AUTH,
    vapidPublicKey: config.VAPID_PUBLIC_KEY,
  });

  const removeCollectors = [
    addCollector('herald_queue_jobs', 'Jobs per queue and state', ['queue', 'state'], async (add) => {
      for (const queue of Object.values(queues)) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        for (const [state, count] of Object.entries(counts)) add({ queue: queue.name, state }, count);
      }
    }),
    addCollector('herald_sse_connections', 'Open live streams on this API process', [], (add) => add({}, hub.stats().connections)),
  ];

  const server = createExpressServer(app);
  // SSE connections are long-lived; the default request timeout would cut them.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  // Demo mode signs anyone in as a demo person without a password: it must not be reachable from
  // another machine, whoever turned it on.
  const host = config.HERALD_DEMO ? '127.0.0.1' : '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A reconnect storm (every browser back at once after a deploy) arrives as thousands of
    // connects in a moment; Node's default queue of 511 would drop the rest, publishers' too,
    // into SYN retries of seconds. The kernel caps this at net.core.somaxconn.
    server.listen({ port, host, backlog: 4_096 }, () => resolve());
  });
  if (config.HERALD_DEMO) logger.warn('demo mode: listening on 127.0.0.1 only');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function close(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const remove of removeCollectors) remove();
    await hub.close();
    server.closeIdleConnections();
    await closed;
    await receipts.close();
    await closeQueues(queues);
    mailer.close();
    for (const connection of [redis, producer, subscriber]) connection.disconnect();
    await closeDb(db);
  }

  return { server, url, hub, app, close };
}
