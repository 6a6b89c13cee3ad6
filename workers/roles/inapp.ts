import { deliverInapp } from '../../src/channels/inapp.ts';
import type { Config } from '../../src/config.ts';
import { closeDb, createDb } from '../../src/db/client.ts';
import type { Logger } from '../../src/logger.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { createRedis } from '../../src/redis.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

/** The in-app worker: writes inbox rows in batches and publishes live frames. */
export async function startInapp(config: Config, logger: Logger): Promise<Role> {
  const db = createDb(config.DATABASE_URL);
  const redis = createRedis(config.REDIS_URL, 'command');
  const frames = createFramePublisher(redis, config.REDIS_PREFIX);
  const worker = runWorker({ queue: 'inapp', config, logger, handle: (payload) => deliverInapp(payload, { db, frames }) });
  return {
    async close() {
      await worker.close();
      redis.disconnect();
      await closeDb(db);
    },
  };
}
