import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { procfileNodeArgs } from '../../../scripts/procfile.ts';
import type { Config } from '../../../src/config.ts';
import { hasExited, stopChild, tail, trackChild, waitUntil } from './processes.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The environment a Herald process reads (src/config.ts), for the same world as `config`. */
export function processEnv(config: Config): Record<string, string> {
  return {
    DATABASE_URL: config.DATABASE_URL,
    REDIS_URL: config.REDIS_URL,
    REDIS_CLUSTER_NODES: (config.REDIS_CLUSTER_NODES ?? []).map((node) => `${node.host}:${node.port}`).join(','),
    REDIS_PREFIX: config.REDIS_PREFIX,
    JWT_SECRET: config.JWT_SECRET,
    SERVICE_KEYS: JSON.stringify(config.SERVICE_KEYS),
    SMTP_URL: config.SMTP_URL,
    EMAIL_FROM: config.EMAIL_FROM,
    OUTBOUND_ALLOW_HOSTS: config.OUTBOUND_ALLOW_HOSTS.join(','),
    OUTBOX_SWEEP_AFTER_SECONDS: String(config.OUTBOX_SWEEP_AFTER_SECONDS),
    NATS_URL: '',
    // Info, because "<name> started" is how the harness knows the process is ready.
    LOG_LEVEL: 'info',
  };
}

export type WorkerProcess = {
  readonly child: ChildProcess;
  /** Waits for the process's "<name> started" log line. */
  started(): Promise<void>;
  /** kill -9: no graceful close, in-flight jobs are cut off wherever they are. */
  kill9(): Promise<void>;
  /** SIGTERM, as a deploy would stop it. */
  stop(): Promise<void>;
  /** Its output so far (the last few KB), for a failure message. */
  output(): string;
};

/**
 * A worker as the Procfile runs it (`workers/<name>.ts`, its own Node process), so a test can
 * kill -9 it: no hook inside Herald, a real crash.
 */
export function spawnWorker(name: 'router' | 'inapp' | 'webhook' | 'email' | 'chat' | 'push' | 'bus', config: Config, env: Record<string, string> = {}): WorkerProcess {
  return spawnHerald(name, config, env);
}

/**
 * The API as the Procfile's `web` runs it, on a port of its own choosing: a test that makes it
 * busy (or hangs it) keeps its own event loop free to time the answers.
 */
export function spawnApi(config: Config, env: Record<string, string> = {}): WorkerProcess & { url(): string } {
  const api = spawnHerald('web', config, { PORT: '0', ...env });
  let url: string | undefined;
  return {
    ...api,
    // Read once: the line may scroll out of the kept output later.
    url() {
      url ??= /"url":"(http:\/\/[^"]+)"[^\n]*"API listening"/.exec(api.output())?.[1];
      if (!url) throw new Error(`the API has not said where it listens:\n${api.output()}`);
      return url;
    },
  };
}

/** The Procfile process `name`, its command as written there (node being this test's own). */
function spawnHerald(name: string, config: Config, env: Record<string, string>): WorkerProcess {
  const child = trackChild(
    spawn(process.execPath, procfileNodeArgs(name), {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...processEnv(config), ...env },
    }),
  );
  let output = '';
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => (output = tail(output + chunk.toString(), 20_000)));
  return {
    child,
    started: () =>
      waitUntil(
        () => {
          if (hasExited(child)) throw new Error(`${name} exited at start:\n${output}`);
          return output.includes(`"${name} started"`);
        },
        // Generous: on a busy machine, tsx compiling a process's modules alone can take half a minute.
        60_000,
        `${name} to start`,
      ),
    kill9: () => stopChild(child, 'SIGKILL', 5_000),
    stop: () => stopChild(child, 'SIGTERM', 30_000),
    output: () => output,
  };
}
