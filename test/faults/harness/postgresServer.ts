import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { runAs, stopChild, tail, trackChild, waitUntil, type RunAs } from './processes.ts';

/** The newest Postgres under /usr/lib/postgresql (Debian's layout) with initdb and postgres. */
export function findPostgres(): { version: string; bin: string } {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`no Postgres server binaries under ${root} (apt-get install postgresql)`);
  return { version: versions[0]!, bin: join(root, versions[0]!, 'bin') };
}

/**
 * The initdb'd data directory every scenario copies (initdb takes seconds; `cp -a` takes
 * milliseconds). Built once per Postgres version under the temp dir; a build goes to a private
 * directory first and is renamed into place, so concurrent callers never see half a template.
 */
export function ensurePostgresTemplate(): string {
  const { version, bin } = findPostgres();
  const template = join(tmpdir(), `herald-faults-pg${version}-template`);
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const as = runAs('postgres');
  const building = `${template}.building-${process.pid}-${Date.now()}`;
  mkdirSync(building, { mode: 0o700 });
  as.chown(building);
  try {
    execFileSync(join(bin, 'initdb'), ['-D', building, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'], {
      ...as.spawnOptions,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
    try {
      renameSync(building, template);
    } catch (err) {
      // Another process finished first: keep its template.
      if (!existsSync(join(template, 'PG_VERSION'))) throw err;
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

export type PostgresServer = {
  url: string;
  port: number;
  start(): Promise<void>;
  /** Fast shutdown (SIGINT): open sessions are cut, the server process exits. */
  stop(): Promise<void>;
  /** Stops the server for good; the data directory goes with the scenario's directory. */
  close(): Promise<void>;
};

/** A Postgres of its own in `dir` (copied from the template) on `port`, running as the `postgres` OS user when we are root. */
export async function startPostgres(dir: string, port: number): Promise<PostgresServer> {
  const { bin } = findPostgres();
  const as: RunAs = runAs('postgres');
  const dataDir = join(dir, 'pgdata');
  const socketDir = join(dir, 'pgsocket');
  execFileSync('cp', ['-a', ensurePostgresTemplate(), dataDir]);
  mkdirSync(socketDir, { mode: 0o700 });
  as.chown(dir);
  as.chown(socketDir);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let child: ChildProcess | null = null;
  let log = '';

  async function start(): Promise<void> {
    if (child) return;
    log = '';
    const started = trackChild(spawn(
      join(bin, 'postgres'),
      [
        '-D', dataDir,
        '-k', socketDir,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        // No fsync: a scenario kills processes, never the machine, so the kernel keeps what was
        // written. Commits still write their WAL before they return (synchronous_commit stays
        // on, as in production): with it off, a stop that has to fall back to an immediate
        // shutdown would drop the last commits — events Herald already answered 202 for — and
        // a scenario would count as lost what the harness, not Herald, threw away.
        '-c', 'fsync=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=300',
        '-c', 'shared_buffers=64MB',
      ],
      { ...as.spawnOptions, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } },
    ));
    started.stderr!.on('data', (chunk: Buffer) => (log = tail(log + chunk.toString())));
    child = started;
    started.once('exit', () => {
      if (child === started) child = null;
    });
    await waitUntil(
      async () => {
        if (child !== started) throw new Error(`postgres exited at start:\n${log}`);
        const sql = postgres(url, { max: 1, connect_timeout: 1, onnotice: () => {} });
        try {
          await sql`select 1`;
          return true;
        } catch {
          return false;
        } finally {
          await sql.end({ timeout: 1 });
        }
      },
      30_000,
      `postgres on port ${port} to accept connections`,
    );
  }

  async function stop(): Promise<void> {
    const running = child;
    child = null;
    // SIGINT is Postgres' fast shutdown; SIGQUIT (immediate) if it does not finish in time.
    if (running) await stopChild(running, 'SIGINT', 15_000, 'SIGQUIT');
  }

  await start();
  return { url, port, start, stop, close: stop };
}
