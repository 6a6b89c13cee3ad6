import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Config } from '../../src/config.ts';
import { createExpressServer } from '../../src/http/expressServer.ts';
import { createRedis } from '../../src/redis.ts';
import type { StartedRole } from '../child.ts';

/**
 * Publish → live frame baseline: the same transports as Herald's path, and nothing else. A POST
 * is answered after a Redis PUBLISH to the user's channel; the subscriber writes the frame to
 * that user's open SSE response. No Postgres, no queue, no routing: the floor under Herald's
 * durable path (intake commit → route job → in-app job → inbox insert → publish).
 */
export async function startSseEcho(config: Config): Promise<StartedRole> {
  const redis = createRedis(config.REDIS_URL, 'command');
  const subscriber = createRedis(config.REDIS_URL, 'subscriber');
  const channel = (userId: string) => `${config.REDIS_PREFIX}:echo:user:${userId}`;
  const streams = new Map<string, Set<ServerResponse>>();
  let seq = 0;

  subscriber.on('message', (ch: string, message: string) => {
    const userId = ch.slice(ch.lastIndexOf(':') + 1);
    const frame = JSON.parse(message) as { type: string; data: unknown };
    for (const res of streams.get(userId) ?? []) res.write(`id: ${++seq}\nevent: ${frame.type}\ndata: ${JSON.stringify(frame.data)}\n\n`);
  });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '256kb' }));
  app.get('/stream', async (req, res) => {
    const userId = String(req.query.user);
    req.socket.setNoDelay(true);
    let set = streams.get(userId);
    if (!set) {
      streams.set(userId, (set = new Set()));
      await subscriber.subscribe(channel(userId));
    }
    set.add(res);
    req.on('close', () => set.delete(res));
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' });
    res.write('retry: 3000\n\n');
    res.write(`event: unread_count\ndata: {"unread":0}\n\n`);
  });
  app.post('/publish', async (req, res) => {
    const { userId, data } = req.body as { userId: string; data: unknown };
    await redis.publish(channel(userId), JSON.stringify({ type: 'notification', data: { data } }));
    res.status(202).json({ status: 'accepted' });
  });

  const server = createExpressServer(app);
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      redis.disconnect();
      subscriber.disconnect();
    },
  };
}
