import type { HttpDeliveryDeps, DeliveryJobContext } from '../../src/channels/httpDelivery.ts';
import type { Config } from '../../src/config.ts';
import { closeDb, createDb } from '../../src/db/client.ts';
import { markDeliveryFailed } from '../../src/deliveries/deliveryLifecycle.ts';
import { createDeliveryStore } from '../../src/deliveries/deliveryStore.ts';
import type { Logger } from '../../src/logger.ts';
import { createBreakerRegistry } from '../../src/outbound/breakers.ts';
import { createOutboundClient } from '../../src/outbound/httpClient.ts';
import type { PayloadOf } from '../../src/queues/catalog.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

export type OutboundRoleOptions = {
  /**
   * Budget of one HTTP request. Keep it under the queue's job timeout, so a receiver that hangs
   * is recorded as a timed-out attempt rather than an aborted job. Default: the client's 10 s.
   */
  requestTimeoutMs?: number;
  /** Per-host circuit breakers; default SPEC §4's 5 consecutive failures, open 60 s. */
  breaker?: { threshold?: number; openMs?: number };
};

type OutboundQueue = 'webhook' | 'chat';

/**
 * A worker for one HTTP channel queue: one guarded outbound client and one breaker registry per
 * process, shared by every job so keep-alive connections and breaker state carry across jobs.
 */
export async function startOutboundRole<K extends OutboundQueue>(
  queue: K,
  deliver: (payload: PayloadOf<K>, deps: HttpDeliveryDeps, context: DeliveryJobContext) => Promise<unknown>,
  config: Config,
  logger: Logger,
  options: OutboundRoleOptions = {},
): Promise<Role> {
  const db = createDb(config.DATABASE_URL);
  const client = createOutboundClient({ allowHosts: config.OUTBOUND_ALLOW_HOSTS, timeoutMs: options.requestTimeoutMs });
  const deps: HttpDeliveryDeps = { db, deliveries: createDeliveryStore(db), client, breakers: createBreakerRegistry(options.breaker) };
  const worker = runWorker({
    queue,
    config,
    logger,
    handle: (payload, context) => deliver(payload, deps, context),
    onFinalFailure: (payload, error) => markDeliveryFailed(deps.deliveries, payload.deliveryId, error),
  });
  return {
    async close() {
      await worker.close();
      client.close();
      await closeDb(db);
    },
  };
}
