import { createServiceKeyStore } from '../../src/auth/serviceKeys.ts';
import { createBusAcceptor, createBusMessageHandler } from '../../src/bus/busMessage.ts';
import { startNatsListener } from '../../src/bus/natsListener.ts';
import { startRedisStreamListener } from '../../src/bus/redisStreamListener.ts';
import type { Config } from '../../src/config.ts';
import { closeDb, connectSoon, createDb } from '../../src/db/client.ts';
import { createIntake } from '../../src/intake/acceptEvent.ts';
import type { Logger } from '../../src/logger.ts';
import { closeQueues, createQueues } from '../../src/queues/catalog.ts';
import { createRedis, slotPrefix } from '../../src/redis.ts';
import type { Role } from './role.ts';

/**
 * The bus listener (SPEC §8): the Redis Stream always, NATS JetStream when NATS_URL is set, both
 * feeding the same accept path as POST /api/v1/events.
 */
export async function startBus(config: Config, logger: Logger): Promise<Role> {
  const db = connectSoon(createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE }));
  // Like the API's: the route enqueue fails fast, and the outbox sweeper routes what it missed.
  const producer = createRedis(config, 'producer');
  const queues = createQueues(producer, slotPrefix(config), config.RETRY_BACKOFF_MS);
  const decide = createBusAcceptor({
    intake: createIntake({ db, routeQueue: queues.route, logger }),
    serviceKeys: createServiceKeyStore(config.SERVICE_KEYS),
    defaultKey: config.BUS_DEFAULT_KEY,
  });
  const closeShared = async () => {
    await closeQueues(queues);
    producer.disconnect();
    await closeDb(db);
  };

  const listeners: { close(): Promise<void> }[] = [];
  try {
    listeners.push(
      await startRedisStreamListener({
        redis: config,
        // The dead-letter move is one MULTI over both streams: on a cluster they share a slot.
        prefix: slotPrefix(config),
        handle: createBusMessageHandler('redis', decide, logger),
        logger,
        claimIdleMs: config.BUS_CLAIM_IDLE_MS,
      }),
    );
    if (config.NATS_URL) {
      listeners.push(
        await startNatsListener({
          url: config.NATS_URL,
          stream: config.NATS_STREAM,
          subject: config.NATS_SUBJECT,
          durable: config.NATS_DURABLE,
          deadSubject: config.NATS_DEAD_SUBJECT,
          handle: createBusMessageHandler('nats', decide, logger),
          logger,
          claimIdleMs: config.BUS_CLAIM_IDLE_MS,
        }),
      );
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await closeShared();
    throw err;
  }

  return {
    async close() {
      await Promise.all(listeners.map((l) => l.close()));
      await closeShared();
    },
  };
}
