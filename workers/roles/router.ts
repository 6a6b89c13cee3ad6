import type { Config } from '../../src/config.ts';
import { closeDb, createDb } from '../../src/db/client.ts';
import { createOutboxSweeper } from '../../src/intake/outboxSweeper.ts';
import type { Logger } from '../../src/logger.ts';
import { closeQueues, createQueues } from '../../src/queues/catalog.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { createRedis } from '../../src/redis.ts';
import { routeEvent } from '../../src/routing/routeEvent.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

/** The router: turns stored events into per-channel jobs, and sweeps the outbox for events that never got routed. */
export async function startRouter(config: Config, logger: Logger): Promise<Role> {
  const db = createDb(config.DATABASE_URL);
  const producer = createRedis(config.REDIS_URL, 'command');
  const queues = createQueues(producer, config.REDIS_PREFIX);
  const frames = createFramePublisher(producer, config.REDIS_PREFIX);
  const sweeper = createOutboxSweeper({ db, queues, logger, afterSeconds: config.OUTBOX_SWEEP_AFTER_SECONDS });
  const worker = runWorker({
    queue: 'route',
    config,
    logger,
    handle: async ({ eventId }, { logger: log }) => {
      const plan = await routeEvent({ db, queues, frames }, eventId);
      if (!plan) log.warn('event not found; nothing to route');
      else log.info({ deliveries: plan.deliveries.length, skipped: plan.skipped.length }, 'event routed');
    },
  });
  sweeper.start();
  return {
    async close() {
      await sweeper.stop();
      await worker.close();
      await closeQueues(queues);
      producer.disconnect();
      await closeDb(db);
    },
  };
}

