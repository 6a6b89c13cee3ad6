import { loadConfigOrExit, type Config } from './config.ts';
import { closeDb, createDb } from './db/client.ts';
import { runMigrations } from './db/migrate.ts';
import { createServer } from 'node:http';
import { createLogger, type Logger } from './logger.ts';
import { registry } from './metrics/processMetrics.ts';

/**
 * The life of one Herald process: parse configuration (exit with one line if it is wrong),
 * apply migrations, start the role, and on SIGTERM/SIGINT close it gracefully — in-flight jobs
 * finish, streams get a retry hint, pools close — before exiting.
 */
export async function runProcess(name: string, start: (config: Config, logger: Logger) => Promise<{ close(): Promise<void> }>): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, `herald-${name}`);
  try {
    const db = createDb(config.DATABASE_URL, { max: 2 });
    await runMigrations(db);
    await closeDb(db);
  } catch (err) {
    logger.fatal({ err }, `cannot prepare the database at start: ${(err as Error).message}`);
    process.exit(1);
  }
  const role = await start(config, logger);
  logger.info(`${name} started`);
  // Worker processes have no API port; METRICS_PORT gives each its own /metrics for Prometheus.
  const metricsServer =
    config.METRICS_PORT !== undefined
      ? createServer(async (req, res) => {
          if (req.url !== '/metrics') return void res.writeHead(404).end();
          res.writeHead(200, { 'Content-Type': registry.contentType }).end(await registry.metrics());
        }).listen(config.METRICS_PORT, () => logger.info({ port: config.METRICS_PORT }, 'metrics served'))
      : undefined;

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${name} stopping`);
    const force = setTimeout(() => {
      logger.error(`${name} did not stop within 25 s; exiting`);
      process.exit(1);
    }, 25_000);
    force.unref();
    metricsServer?.close();
    try {
      await role.close();
    } catch (err) {
      logger.error({ err }, 'error while stopping');
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
