import { bulkhead } from 'cockatiel';
import { createMailer, deliverEmail, type EmailDeps } from '../../src/channels/email.ts';
import type { Config } from '../../src/config.ts';
import { closeDb, createDb } from '../../src/db/client.ts';
import { markDeliveryFailed } from '../../src/deliveries/deliveryLifecycle.ts';
import { createDeliveryStore } from '../../src/deliveries/deliveryStore.ts';
import type { Logger } from '../../src/logger.ts';
import { createBreakerRegistry } from '../../src/outbound/breakers.ts';
import { queueCatalog } from '../../src/queues/catalog.ts';
import { createRedis } from '../../src/redis.ts';
import { createCachedTemplateSource } from '../../src/templates/templateRenderer.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

export type EmailRoleOptions = {
  /** The relay's circuit breaker; default SPEC §4's 5 consecutive failures, open 60 s. */
  breaker?: { threshold?: number; openMs?: number };
  /**
   * First retry delay after a transient failure, doubled per try with jitter; default the queue
   * catalog's. Jobs carry the catalog's schedule from when they were enqueued, so the worker
   * replaces it on the job before BullMQ computes the delay from it.
   */
  retryBackoffMs?: number;
  /** SMTP connect/greeting/socket timeout; default 20 s, under the queue's 30 s job timeout. */
  socketTimeoutMs?: number;
};

/**
 * The email worker: one pooled SMTP transport, one breaker on the relay and one bulkhead per
 * process, shared by every job, and a template cache that every instance drops on a change.
 */
export async function startEmail(config: Config, logger: Logger, options: EmailRoleOptions = {}): Promise<Role> {
  const mailer = createMailer({
    smtpUrl: config.SMTP_URL,
    from: config.EMAIL_FROM,
    maxConnections: config.EMAIL_CONCURRENCY,
    socketTimeoutMs: options.socketTimeoutMs,
  });
  const db = createDb(config.DATABASE_URL);
  const subscriber = createRedis(config.REDIS_URL, 'subscriber');
  const templates = await createCachedTemplateSource({ db, subscriber, prefix: config.REDIS_PREFIX, logger });
  const deps: EmailDeps = {
    db,
    deliveries: createDeliveryStore(db),
    templates,
    mailer,
    breakers: createBreakerRegistry(options.breaker),
    // Queue room for every job the worker may hold, so a waiting send is never refused.
    bulkhead: bulkhead(config.EMAIL_CONCURRENCY, queueCatalog.email.concurrency),
  };
  const backoff = options.retryBackoffMs ? { type: 'exponential', delay: options.retryBackoffMs, jitter: 0.5 } : null;

  const worker = runWorker({
    queue: 'email',
    config,
    logger,
    handle: (payload, { job, signal }) => {
      if (backoff) job.opts.backoff = backoff;
      return deliverEmail(payload, deps, signal);
    },
    onFinalFailure: (payload, error) => markDeliveryFailed(deps.deliveries, payload.deliveryId, error),
  });

  return {
    async close() {
      await worker.close();
      await templates.close();
      subscriber.disconnect();
      mailer.close();
      await closeDb(db);
    },
  };
}
