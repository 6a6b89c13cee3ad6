import { deliver, writeInappBatches } from '../../src/channels/inapp.ts';
import type { Config } from '../../src/config.ts';
import { closeDb, openDb } from '../../src/db/client.ts';
import { createGroupCommitter } from '../../src/groupCommit.ts';
import type { Logger } from '../../src/logger.ts';
import type { PayloadOf } from '../../src/queues/catalog.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { createRedis } from '../../src/redis.ts';
import { createCachedTemplateSource } from '../../src/templates/templateRenderer.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

/** Most in-app batches written in one group (each batch is up to INAPP_BATCH_SIZE users). */
const INAPP_GROUP_MAX = 50;

/**
 * Groups written at once. A fan-out's batches reach the worker one by one, so with a single
 * writer the first batch went alone and the other nine of a 10,000-user event waited for it;
 * side by side they share the machine's cores and Postgres' backends (heads are locked in user
 * order by every writer, so parallel groups cannot deadlock, and a user's rows still commit
 * in seq order).
 */
const INAPP_WRITERS = 4;

/**
 * The in-app worker: writes inbox rows and publishes live frames. The batches its concurrent
 * jobs hold are written together, and templates come from a cache every instance drops on a change.
 */
export async function startInapp(config: Config, logger: Logger): Promise<Role> {
  const db = await openDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  const redis = createRedis(config, 'command');
  const subscriber = createRedis(config, 'subscriber');
  const templates = await createCachedTemplateSource({ db, subscriber, prefix: config.REDIS_PREFIX, logger });
  const frames = createFramePublisher(redis, config.REDIS_PREFIX);
  const writeBatches = createGroupCommitter((batches: PayloadOf<'inapp'>[]) => writeInappBatches(batches, { db, frames, templates }), {
    maxBatch: INAPP_GROUP_MAX,
    flushers: INAPP_WRITERS,
    isolateFailures: true,
  });
  const worker = runWorker({ queue: 'inapp', config, logger, handle: (job) => deliver(job, { writeBatches }) });
  return {
    async close() {
      await worker.close();
      await templates.close();
      subscriber.disconnect();
      redis.disconnect();
      await closeDb(db);
    },
  };
}
