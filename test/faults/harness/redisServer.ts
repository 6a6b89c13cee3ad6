import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { stopChild, tail, trackChild, waitUntil } from './processes.ts';

export type RedisServer = {
  url: string;
  port: number;
  start(): Promise<void>;
  /** Stops the server process (SIGTERM; it keeps no data, so it comes back empty). */
  stop(): Promise<void>;
  /** FLUSHALL: every key gone, the server still up. */
  flush(): Promise<void>;
  close(): Promise<void>;
};

/** A redis-server of its own on `port`, no persistence, run in the foreground so its handle can stop it. */
export async function startRedis(dir: string, port: number): Promise<RedisServer> {
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let log = '';

  async function ping(): Promise<boolean> {
    const client = new Redis(url, { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  async function start(): Promise<void> {
    if (child) return;
    log = '';
    const started = trackChild(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    for (const stream of [started.stdout!, started.stderr!]) stream.on('data', (chunk: Buffer) => (log = tail(log + chunk.toString())));
    child = started;
    started.once('exit', () => {
      if (child === started) child = null;
    });
    await waitUntil(
      async () => {
        if (child !== started) throw new Error(`redis-server exited at start:\n${log}`);
        return ping();
      },
      15_000,
      `redis-server on port ${port}`,
    );
  }

  async function stop(): Promise<void> {
    const running = child;
    child = null;
    if (running) await stopChild(running, 'SIGTERM', 10_000);
  }

  async function flush(): Promise<void> {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      await client.flushall();
    } finally {
      client.disconnect();
    }
  }

  await start();
  return { url, port, start, stop, flush, close: stop };
}
