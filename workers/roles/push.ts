import { deliverPush } from '../../src/channels/push.ts';
import type { Config } from '../../src/config.ts';
import { closeDb, createDb } from '../../src/db/client.ts';
import { markDeliveryFailed } from '../../src/deliveries/deliveryLifecycle.ts';
import { createDeliveryStore } from '../../src/deliveries/deliveryStore.ts';
import type { Logger } from '../../src/logger.ts';
import { createBreakerRegistry } from '../../src/outbound/breakers.ts';
import { createOutboundClient } from '../../src/outbound/httpClient.ts';
import { PUSH_NOT_CONFIGURED, vapidDetailsOf } from '../../src/push/vapidKeys.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

// Push services answer in well under a second; a slow one should leave room in the job's budget for the user's other devices.
const PUSH_REQUEST_TIMEOUT_MS = 10_000;

/** The Web Push worker: encrypts each delivery for every device of its user and posts it through the guarded client. */
export async function startPush(config: Config, logger: Logger): Promise<Role> {
  const vapid = vapidDetailsOf(config);
  // Started anyway: jobs then fail with this reason on the delivery timeline instead of waiting unseen in the queue.
  if (!vapid) logger.warn(`${PUSH_NOT_CONFIGURED}; every push delivery will fail until it is`);
  const db = createDb(config.DATABASE_URL);
  const client = createOutboundClient({ allowHosts: config.OUTBOUND_ALLOW_HOSTS, timeoutMs: PUSH_REQUEST_TIMEOUT_MS });
  const breakers = createBreakerRegistry();
  const deliveries = createDeliveryStore(db);
  const worker = runWorker({
    queue: 'push',
    config,
    logger,
    handle: (payload, context) => deliverPush(payload, { db, deliveries, client, breakers, vapid }, context),
    onFinalFailure: (payload, error) => markDeliveryFailed(deliveries, payload.deliveryId, error),
  });
  return {
    async close() {
      await worker.close();
      client.close();
      await closeDb(db);
    },
  };
}
