import { bulkhead } from 'cockatiel';
import type { Config } from '../../src/config.ts';
import { closeDb, GENERIC_PLAN_SETTINGS, openDb, type Db } from '../../src/db/client.ts';
import { markDeliveryFailed, type DeliveryStore } from '../../src/deliveries/deliveryLifecycle.ts';
import { groupMembersQuery, markGroupFailed, sendDeliveryGroup, type DeliveryGroupDeps } from '../../src/deliveries/deliveryGroups.ts';
import { createDeliveryStore } from '../../src/deliveries/deliveryStore.ts';
import type { Logger } from '../../src/logger.ts';
import { createBreakerRegistry, type BreakerRegistry } from '../../src/outbound/breakers.ts';
import { createOutboundClient, type OutboundClient } from '../../src/outbound/httpClient.ts';
import { closeQueues, createQueues, queueCatalog, type DeliveryQueue } from '../../src/queues/catalog.ts';
import type { QueueJob } from '../../src/queues/queueJob.ts';
import { createRedis, slotPrefix } from '../../src/redis.ts';
import { createCachedTemplateSource, type TemplateSource } from '../../src/templates/templateRenderer.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

/** What every outbound channel's worker shares: the delivery rows, and one breaker per destination. */
export type DeliveryRoleDeps = { db: Db; deliveries: DeliveryStore; breakers: BreakerRegistry };

/** A channel's own clients, opened once per process and shared by every job. */
export type ChannelClients<D> = { deps: D; close(): Promise<void> | void };

/** One outbound channel as its worker runs it: the queue it takes jobs from, its `deliver`, and how to open what `deliver` needs. */
export type OutboundChannel<K extends DeliveryQueue, D> = {
  queue: K;
  deliver: (job: QueueJob<K>, deps: D) => Promise<unknown>;
  open: (shared: DeliveryRoleDeps, config: Config, logger: Logger) => Promise<ChannelClients<D>> | ChannelClients<D>;
  /** The queue of the channel's groups of deliveries (src/deliveries/deliveryGroups.ts), for a channel routing groups. */
  groupQueue?: 'webhookGroup';
};

/**
 * The worker of one outbound channel (email, webhook, chat, push): one database pool, one
 * delivery store and one breaker registry per process, the channel's own clients, and a catalog
 * worker whose jobs run the channel's `deliver`. A job that fails for good fails its delivery.
 */
export async function startDeliveryRole<K extends DeliveryQueue, D>(channel: OutboundChannel<K, D>, config: Config, logger: Logger): Promise<Role> {
  // Every statement planned once per connection: at a few sends per statement the planning was
  // most of a grouped load's and record's cost (0.3–0.7 ms against 0.06–0.27 ms of execution,
  // measured alone), about a fifth of Postgres's CPU per email. Each of these statements fetches
  // rows by key (the record's carried members by their partial index, in a LATERAL probe), which a
  // generic plan does as well as a custom one; test/deliveries/recordSuccessesPlan.test.ts checks
  // the two per-send statements' generic plans.
  const db = await openDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE, settings: GENERIC_PLAN_SETTINGS });
  const shared: DeliveryRoleDeps = {
    db,
    deliveries: createDeliveryStore(db),
    breakers: createBreakerRegistry({ threshold: config.BREAKER_FAILURES, openMs: config.BREAKER_OPEN_MS }),
  };
  let clients: ChannelClients<D>;
  try {
    clients = await channel.open(shared, config, logger);
  } catch (err) {
    await closeDb(db);
    throw err;
  }
  const worker = runWorker({
    queue: channel.queue,
    config,
    logger,
    handle: (job) => channel.deliver(job, clients.deps),
    onFinalFailure: (payload, error) => markDeliveryFailed(shared.deliveries, payload.deliveryId, error),
  });
  const groups = channel.groupQueue ? runGroupWorker(channel, channel.groupQueue, shared, clients.deps, config, logger) : null;
  return {
    async close() {
      await groups?.close();
      await worker.close();
      await clients.close();
      await closeDb(db);
    },
  };
}

/**
 * The worker of a channel's groups, beside its own: the same clients and delivery store, so a
 * group's sends share the grouped loads and records of the channel's jobs. A member that fails
 * goes on as a job of the channel's queue.
 */
function runGroupWorker<K extends DeliveryQueue, D>(
  channel: OutboundChannel<K, D>,
  queue: 'webhookGroup',
  shared: DeliveryRoleDeps,
  deps: D,
  config: Config,
  logger: Logger,
): { close(): Promise<void> } {
  const producer = createRedis(config, 'producer');
  const queues = createQueues(producer, slotPrefix(config), config.RETRY_BACKOFF_MS);
  const groupDeps: DeliveryGroupDeps = {
    db: shared.db,
    members: groupMembersQuery(shared.db).prepare('delivery_group_members'),
    // Every delivery queue's jobs carry the same payload, so a member's job is the channel's.
    send: (job) => channel.deliver(job as QueueJob<K>, deps),
    sends: bulkhead(queueCatalog[channel.queue].concurrency, Infinity),
    memberQueue: queues[channel.queue],
    member: { queue: channel.queue, timeoutMs: queueCatalog[channel.queue].timeoutMs, retryBackoffMs: config.RETRY_BACKOFF_MS },
  };
  const worker = runWorker({
    queue,
    config,
    logger,
    handle: (job) => sendDeliveryGroup(job, groupDeps),
    onFinalFailure: (payload, error) => markGroupFailed(shared.db, payload.group, error),
  });
  return {
    async close() {
      await worker.close();
      await closeQueues(queues);
      producer.disconnect();
    },
  };
}

/**
 * The guarded outbound client, for channels that post over HTTP (webhook, chat, push): one per
 * process, so keep-alive connections carry across jobs.
 */
export function openHttpClient(shared: DeliveryRoleDeps, config: Config): ChannelClients<DeliveryRoleDeps & { client: OutboundClient }> {
  const client = createOutboundClient({ allowHosts: config.OUTBOUND_ALLOW_HOSTS, timeoutMs: config.OUTBOUND_TIMEOUT_MS });
  return { deps: { ...shared, client }, close: () => client.close() };
}

/**
 * The template cache of a channel that renders text (email, push, chat): every instance drops it
 * when a template or a brand changes.
 */
export async function openTemplateSource(shared: DeliveryRoleDeps, config: Config, logger: Logger): Promise<ChannelClients<{ templates: TemplateSource }>> {
  const subscriber = createRedis(config, 'subscriber');
  const templates = await createCachedTemplateSource({ db: shared.db, subscriber, prefix: config.REDIS_PREFIX, logger });
  return {
    deps: { templates },
    async close() {
      await templates.close();
      subscriber.disconnect();
    },
  };
}

/** The guarded client and the template cache, for channels that post text they render (chat, push). */
export async function openHttpClientAndTemplates(
  shared: DeliveryRoleDeps,
  config: Config,
  logger: Logger,
): Promise<ChannelClients<DeliveryRoleDeps & { client: OutboundClient; templates: TemplateSource }>> {
  const http = openHttpClient(shared, config);
  const templates = await openTemplateSource(shared, config, logger).catch(async (err: unknown) => {
    await http.close();
    throw err;
  });
  return {
    deps: { ...http.deps, ...templates.deps },
    async close() {
      await templates.close();
      await http.close();
    },
  };
}
