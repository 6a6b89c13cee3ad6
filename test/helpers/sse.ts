import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { createSseHub, type SseHub, type SseHubOptions } from '../../src/realtime/sseHub.ts';
import { createRedis, type RedisClient } from '../../src/redis.ts';

export type ReceivedFrame = { type: string; id: string; data: any };

const FRAME_TYPES = ['notification', 'notification.read', 'notifications.read_all', 'notifications.seen', 'notification.archived', 'unread_count', 'event'];

/** A real EventSource client on a user's stream, recording every frame it gets. */
export function openStream(baseUrl: string, token: string, options: { lastEventId?: string; path?: string } = {}) {
  const frames: ReceivedFrame[] = [];
  const listeners = new Set<() => void>();
  const es = new EventSource(`${baseUrl}${options.path ?? '/api/v1/events'}`, {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: {
          ...(init?.headers as Record<string, string>),
          authorization: `Bearer ${token}`,
          ...(options.lastEventId && { 'last-event-id': options.lastEventId }),
        },
      }),
  });
  for (const type of FRAME_TYPES) {
    es.addEventListener(type, (e) => {
      frames.push({ type, id: e.lastEventId, data: JSON.parse(e.data) });
      for (const l of listeners) l();
    });
  }
  const opened = new Promise<void>((resolve, reject) => {
    es.addEventListener('open', () => resolve(), { once: true });
    es.addEventListener('error', (e) => reject(new Error(`stream failed: ${(e as { code?: number }).code ?? ''} ${(e as { message?: string }).message ?? ''}`)), { once: true });
  });

  /** Resolves with the frames matching `predicate` once there are `count` of them. */
  function waitFor(predicate: (f: ReceivedFrame) => boolean, count = 1, timeoutMs = 10_000): Promise<ReceivedFrame[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const matching = frames.filter(predicate);
        if (matching.length >= count) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(matching);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`waited ${timeoutMs} ms for ${count} frame(s); have ${JSON.stringify(frames.map((f) => f.type))}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  }

  return { es, frames, opened, waitFor, close: () => es.close() };
}

export const notificationFrames = (frames: ReceivedFrame[]) => frames.filter((f) => f.type === 'notification');

/** Opens streams as openStream does and remembers them, so a file's afterAll closes every one it opened. */
export function streamTracker() {
  const opened: { close(): void }[] = [];
  return {
    open(...args: Parameters<typeof openStream>) {
      const s = openStream(...args);
      opened.push(s);
      return s;
    },
    closeAll(): void {
      for (const s of opened.splice(0)) s.close();
    },
  };
}

/**
 * A hub of the test's own on a bare HTTP server, for tests that need hub options the API does
 * not expose (a tiny queue, a fast heartbeat, a slow source): the hub gets its own subscriber on
 * the test env's Redis and prefix (or the one given, to break it), `handle` answers each
 * request. `close()` ends streams, server and subscriber. With `socketPath` the server listens
 * on that Unix socket instead of a TCP port (requests then name it as their `socketPath`): its
 * buffers have a fixed size, where loopback TCP's grow with the kernel's autotuning, so a client
 * that stops reading backs the server up after the same few hundred KB on every machine.
 */
export async function startHubServer(
  env: { redis: RedisClient; config: { REDIS_URL: string; REDIS_PREFIX: string } },
  options: Omit<SseHubOptions, 'subscriber' | 'redis' | 'prefix'> & { subscriber?: RedisClient },
  handle: (hub: SseHub, req: IncomingMessage, res: ServerResponse) => void,
  socketPath?: string,
): Promise<{ hub: SseHub; baseUrl: string; close(): Promise<void> }> {
  const subscriber = options.subscriber ?? createRedis(env.config.REDIS_URL, 'subscriber');
  const hub = createSseHub({ redis: env.redis, prefix: env.config.REDIS_PREFIX, ...options, subscriber });
  const server = createServer((req, res) => handle(hub, req, res));
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  return {
    hub,
    baseUrl: socketPath ? 'http://localhost' : `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      subscriber.disconnect();
    },
  };
}
