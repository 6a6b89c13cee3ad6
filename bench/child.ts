/**
 * Entry of every process the bench starts: `node <the Procfile's node flags> bench/child.ts <role>`.
 * Herald's roles are started through the same functions their production entry points call
 * (workers/*.ts → workers/roles/*.ts, src/http/server.ts → startWeb); the baselines through
 * bench/baselines/*. The parent talks over IPC: the child answers `ready` (with its URL if it
 * listens), handles role-specific messages, and on `stop` (or when the parent goes away) closes
 * what it started and exits.
 */
import { loadConfig, type Config } from '../src/config.ts';
import { createLogger, type Logger } from '../src/logger.ts';
import { countPostgresTraffic, type PostgresTraffic } from './pgWireCounter.ts';

export type ChildSend = (message: Record<string, unknown>) => void;
export type StartedRole = { url?: string; close(): Promise<void>; onMessage?(message: Record<string, unknown>): Promise<void> | void };
type Starter = (config: Config, logger: Logger, send: ChildSend) => Promise<StartedRole>;

const starters: Record<string, () => Promise<Starter>> = {
  web: async () => {
    const { startWeb } = await import('../src/http/web.ts');
    return async (config, logger) => {
      const web = await startWeb(config, logger, 0);
      return { url: web.url, close: () => web.close() };
    };
  },
  router: async () => (await import('../workers/roles/router.ts')).startRouter,
  inapp: async () => (await import('../workers/roles/inapp.ts')).startInapp,
  webhook: async () => {
    const { startWebhook } = await import('../workers/roles/webhook.ts');
    return (config, logger) => startWebhook(config, logger);
  },
  email: async () => {
    const { startEmail } = await import('../workers/roles/email.ts');
    return (config, logger) => startEmail(config, logger);
  },
  chat: async () => {
    const { startChat } = await import('../workers/roles/chat.ts');
    return (config, logger) => startChat(config, logger);
  },
  push: async () => (await import('../workers/roles/push.ts')).startPush,
  bus: async () => (await import('../workers/roles/bus.ts')).startBus,
  'bare-intake': async () => (await import('./baselines/bareIntake.ts')).startBareIntake,
  'sse-echo': async () => (await import('./baselines/sseEcho.ts')).startSseEcho,
  'bare-sse': async () => (await import('./baselines/bareSse.ts')).startBareSse,
  'got-loop': async () => (await import('./baselines/gotLoop.ts')).startGotLoop,
  'mail-loop': async () => (await import('./baselines/mailLoop.ts')).startMailLoop,
  'sse-clients': async () => (await import('./sseClientsRole.ts')).startSseClients,
};

const send: ChildSend = (message) => {
  if (process.connected) process.send!(message);
};

const roleName = process.argv[2] ?? '';
const load = starters[roleName];
if (!load || !process.send) {
  process.stderr.write(`bench/child.ts: unknown role '${roleName}' or no IPC channel\n`);
  process.exit(2);
}

let role: StartedRole | undefined;
/** What this process has sent to Postgres (see pgWireCounter.ts); asked for with `pg-traffic`. */
let postgresTraffic = (): PostgresTraffic => ({ roundTrips: 0, executions: {} });
let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(code || 1), 10_000);
  force.unref();
  try {
    await role?.close();
  } catch (err) {
    process.stderr.write(`close failed: ${String(err)}\n`);
  }
  process.exit(code);
}

process.on('message', (message: Record<string, unknown>) => {
  if (message.type === 'stop') void stop(0);
  else if (message.type === 'gc') {
    // Memory figures are read after a full collection (children started with --expose-gc), so
    // garbage left by a burst of work does not count as memory held per connection.
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    setTimeout(() => send({ type: 'gc-done', collected: Boolean(gc), ...process.memoryUsage() }), 300);
  }
  else if (message.type === 'pg-traffic') send({ type: 'pg-traffic', ...postgresTraffic() });
  else if (message.type === 'cpu') send({ type: 'cpu', ...process.cpuUsage() });
  else
    Promise.resolve(role?.onMessage?.(message)).catch((err: unknown) => send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) }));
});
// The bench died or was interrupted: nobody would ever stop us.
process.on('disconnect', () => void stop(0));

/**
 * Diagnostic knob, off by default: BENCH_QUEUE_CONCURRENCY="route=32,inapp=32" overrides the
 * catalog's per-process concurrency in this child before its worker starts, to test whether a
 * queue is bound by its concurrency (I/O waits) rather than by CPU. Not used by `npm run bench`.
 */
async function applyConcurrencyOverrides(): Promise<void> {
  const spec = process.env.BENCH_QUEUE_CONCURRENCY;
  if (!spec) return;
  const { queueCatalog } = await import('../src/queues/catalog.ts');
  for (const part of spec.split(',')) {
    const [queue, value] = part.split('=');
    const definition = queueCatalog[queue as keyof typeof queueCatalog];
    if (definition && Number(value) > 0) definition.concurrency = Number(value);
  }
}

try {
  await applyConcurrencyOverrides();
  const config = loadConfig(process.env);
  postgresTraffic = countPostgresTraffic(Number(new URL(config.DATABASE_URL).port || 5432));
  const logger = createLogger(config.LOG_LEVEL, `bench-${roleName}`);
  role = await (await load())(config, logger, send);
  send({ type: 'ready', url: role.url });
} catch (err) {
  send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}
