import type { Config } from '../../src/config.ts';
import { closeDb, createDb } from '../../src/db/client.ts';
import { createOutboxSweeper } from '../../src/intake/outboxSweeper.ts';
import type { Logger } from '../../src/logger.ts';
import { closeQueues, createQueues } from '../../src/queues/catalog.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { createRedis } from '../../src/redis.ts';
import { createGroupCommitter } from '../../src/groupCommit.ts';
import { routeEvents } from '../../src/routing/routeEvent.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

/** Most events routed in one group (bounded by the route queue's concurrency in practice). */
const ROUTE_GROUP_MAX = 100;

/** The router: turns stored events into per-channel jobs, and sweeps the outbox for events that never got routed. */
export async function startRouter(config: Config, logger: Logger): Promise<Role> {
  const db = createDb(config.DATABASE_URL);
  const producer = createRedis(config.REDIS_URL, 'command');
  const queues = createQueues(producer, config.REDIS_PREFIX);
  const frames = createFramePublisher(producer, config.REDIS_PREFIX);
  const sweeper = createOutboxSweeper({ db, queues, logger, afterSeconds: config.OUTBOX_SWEEP_AFTER_SECONDS });
  // The events that concurrent jobs hold are routed together, in the round trips of one.
  const route = createGroupCommitter((eventIds: string[]) => routeEvents({ db, queues, frames }, eventIds), {
    maxBatch: ROUTE_GROUP_MAX,
    isolateFailures: true,
  });
  const worker = runWorker({
    queue: 'route',
    config,
    logger,
    handle: async ({ eventId }, { logger: log }) => {
      const [plan] = await route([eventId]);
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

