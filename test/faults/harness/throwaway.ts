import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, type PostgresServer } from './postgresServer.ts';
import { freePort } from './processes.ts';
import { startRedis, type RedisServer } from './redisServer.ts';

export type ThrowawayServices = {
  /** The `postgres` database of the throwaway server; createTestEnv makes its own database on it. */
  postgresUrl: string;
  redisUrl: string;
  stopPostgres(): Promise<void>;
  /** Same data directory, same port: the server that was stopped comes back. */
  startPostgres(): Promise<void>;
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  flushRedis(): Promise<void>;
  /** Stops both servers and removes their files; safe to call twice and after a failed start. */
  close(): Promise<void>;
};

/**
 * A Postgres and a redis-server of the scenario's own, from the machine's binaries, on spare
 * ports under a fresh temp directory: a fault test may stop, flush or kill them without
 * disturbing anything else on the machine.
 */
export async function startThrowawayServices(): Promise<ThrowawayServices> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-fault-'));
  let pg: PostgresServer | undefined;
  let redis: RedisServer | undefined;
  let closed = false;

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await Promise.allSettled([pg?.close(), redis?.close()]);
    rmSync(dir, { recursive: true, force: true });
  }

  // Both start at once; when one fails, the other (started or not) is still stopped.
  const [pgStart, redisStart] = await Promise.allSettled([
    freePort().then((port) => startPostgres(dir, port)),
    freePort().then((port) => startRedis(dir, port)),
  ]);
  if (pgStart.status === 'fulfilled') pg = pgStart.value;
  if (redisStart.status === 'fulfilled') redis = redisStart.value;
  if (pgStart.status === 'rejected' || redisStart.status === 'rejected') {
    await close();
    throw pgStart.status === 'rejected' ? pgStart.reason : (redisStart as PromiseRejectedResult).reason;
  }
  const postgresServer = pgStart.value;
  const redisServer = redisStart.value;
  return {
    postgresUrl: postgresServer.url,
    redisUrl: redisServer.url,
    stopPostgres: () => postgresServer.stop(),
    startPostgres: () => postgresServer.start(),
    stopRedis: () => redisServer.stop(),
    startRedis: () => redisServer.start(),
    flushRedis: () => redisServer.flush(),
    close,
  };
}
