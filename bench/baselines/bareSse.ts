import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../src/config.ts';
import { createRedis } from '../../src/redis.ts';
import type { StartedRole } from '../child.ts';

/**
 * SSE scale baseline: a bare node:http server holding one open streaming response per
 * connection (the least a live stream can cost), subscribed to the same tenant channel as
 * Herald; a broadcast writes one preformatted string to every response.
 */
export async function startBareSse(config: Config): Promise<StartedRole> {
  const tenantId = process.env.BENCH_SSE_TENANT ?? 'scale';
  const subscriber = createRedis(config.REDIS_URL, 'subscriber');
  const responses = new Set<ServerResponse>();
  await subscriber.subscribe(`${config.REDIS_PREFIX}:live:tenant:${tenantId}`);
  subscriber.on('message', (_channel: string, message: string) => {
    // Herald's message shape: the frames of one publish, as a list.
    const frames = JSON.parse(message) as { type: string; data: unknown }[];
    const chunk = frames.map((frame) => `event: ${frame.type}\ndata: ${JSON.stringify(frame.data)}\n\n`).join('');
    const started = performance.now();
    for (const res of responses) res.write(chunk);
    if (process.env.BENCH_TRACE) process.stderr.write(`broadcast written to ${responses.size} in ${(performance.now() - started).toFixed(1)} ms\n`);
  });

  const server = createServer((req, res) => {
    req.socket.setNoDelay(true);
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive' });
    res.write('retry: 3000\n\n');
    res.write(`event: unread_count\ndata: {"unread":0}\n\n`);
    responses.add(res);
    req.on('close', () => responses.delete(res));
  });
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      subscriber.disconnect();
    },
  };
}
