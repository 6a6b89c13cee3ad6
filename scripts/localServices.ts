import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** True when something accepts TCP connections at host:port within a second. */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function which(binary: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/local/bin', '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'])) {
    const candidate = join(dir, binary);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

async function waitUntilListening(port: number, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await isListening(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start listening on port ${port}`);
}

export type LocalService = { url: string; stop(): void };

/** A Postgres cluster under .data/postgres, started from the machine's binaries. */
export async function startLocalPostgres(dataDir: string, port: number): Promise<LocalService> {
  const initdb = which('initdb');
  const pgCtl = which('pg_ctl');
  if (!initdb || !pgCtl) {
    throw new Error('Postgres is not running at 127.0.0.1:5432 and no initdb/pg_ctl is installed: install PostgreSQL (apt-get install postgresql) or set DATABASE_URL');
  }
  const dir = join(dataDir, 'postgres');
  // initdb refuses to run as root; the Postgres binaries must run as an unprivileged user.
  const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true });
    if (asUser.length) spawnSync('chown', ['-R', 'postgres', dataDir]);
    const init = spawnSync(asUser[0] ?? initdb, [...asUser.slice(1), ...(asUser.length ? [initdb] : []), '-D', dir, '-U', 'postgres', '--auth=trust'], { stdio: 'inherit' });
    if (init.status !== 0) throw new Error('initdb failed');
  }
  const args = ['-D', dir, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-l', join(dir, 'server.log'), '-w', 'start'];
  const started = spawnSync(asUser[0] ?? pgCtl, [...asUser.slice(1), ...(asUser.length ? [pgCtl] : []), ...args], { stdio: 'inherit' });
  if (started.status !== 0) throw new Error('pg_ctl start failed; see .data/postgres/server.log');
  await waitUntilListening(port, 'Postgres');
  return {
    url: `postgres://postgres@127.0.0.1:${port}/herald`,
    stop: () => void spawnSync(asUser[0] ?? pgCtl, [...asUser.slice(1), ...(asUser.length ? [pgCtl] : []), '-D', dir, '-m', 'fast', 'stop']),
  };
}

/** A throwaway redis-server (no persistence) from PATH. */
export async function startLocalRedis(port: number): Promise<LocalService> {
  const redisServer = which('redis-server');
  if (!redisServer) throw new Error('Redis is not running at 127.0.0.1:6379 and redis-server is not installed: install it (apt-get install redis-server) or set REDIS_URL');
  const child = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitUntilListening(port, 'Redis');
  return { url: `redis://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}
