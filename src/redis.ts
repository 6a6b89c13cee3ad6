import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';

/** One Redis or a Redis Cluster: every module talks to either through the same commands. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: the cluster's seed nodes when REDIS_CLUSTER_NODES is set, else REDIS_URL. */
export type RedisTarget = Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>;

export type RedisRole = 'producer' | 'worker' | 'subscriber' | 'command';

/**
 * Redis connections, by role. Producers fail fast when Redis is away (intake must answer, and
 * the outbox sweeper re-enqueues later); workers and subscribers wait and reconnect.
 * A bare URL is one Redis (benches and tests that run against the machine's own).
 */
export function createRedis(url: string, role: RedisRole): Redis;
export function createRedis(target: RedisTarget, role: RedisRole): RedisClient;
export function createRedis(target: RedisTarget | string, role: RedisRole): RedisClient {
  const options = connectionOptions(role);
  const nodes = typeof target === 'string' ? undefined : target.REDIS_CLUSTER_NODES;
  const url = typeof target === 'string' ? target : target.REDIS_URL;
  const redis: RedisClient = nodes
    ? new Cluster(nodes, {
        redisOptions: options,
        enableOfflineQueue: options.enableOfflineQueue ?? true,
        clusterRetryStrategy: options.retryStrategy,
        // A master that stopped keeps its slots until it is back or failed over: commands for
        // them wait a little between tries rather than spin.
        retryDelayOnClusterDown: 300,
        slotsRefreshTimeout: 2_000,
      })
    : new Redis(url, options);
  // ioredis emits 'error' on every failed reconnect; callers that care listen themselves.
  redis.on('error', () => {});
  return redis;
}

function connectionOptions(role: RedisRole): RedisOptions {
  const options: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 3_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  if (role === 'producer') {
    options.enableOfflineQueue = false;
    options.maxRetriesPerRequest = 1;
  } else if (role === 'command') {
    options.maxRetriesPerRequest = 1;
  } else {
    // BullMQ workers and pub/sub subscribers block; they must not give up on a command.
    options.maxRetriesPerRequest = null;
  }
  if (role === 'subscriber') {
    // ioredis writes a SUBSCRIBE at once while the connection is still in its handshake; the
    // ready check's INFO after it then fails on a connection in subscriber mode, and ioredis
    // reconnects without the subscription (redis/ioredis#2037): a stream opened in that window,
    // as the API starts or while it reconnects, stayed silent for good. A subscriber needs no
    // ready check: SUBSCRIBE works while Redis loads its data. (A cluster's subscriber is a
    // connection ioredis makes itself, with the check: see realtime/subscriptions.ts.)
    options.enableReadyCheck = false;
  }
  return options;
}

/**
 * The prefix of keys that one command, script or transaction uses together — BullMQ's keys of a
 * queue, the bus stream and its dead-letter stream. On a cluster it is the hash tag `{herald}`,
 * which puts them all in one slot (Redis refuses multi-key commands across slots); on one Redis
 * it stays `herald`, the name those keys always had. Keys used alone keep the plain prefix, so
 * on a cluster they spread over every master.
 */
export function slotPrefix(config: Pick<Config, 'REDIS_PREFIX' | 'REDIS_CLUSTER_NODES'>): string {
  return config.REDIS_CLUSTER_NODES ? `{${config.REDIS_PREFIX}}` : config.REDIS_PREFIX;
}

/** The servers that hold keys: the one Redis, or every master of a cluster. */
export function keyServers(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

/**
 * Whether Redis can serve every key. On a cluster one master down makes its slots unusable, so
 * the whole is not ready even though the other masters answer: the client forgets a master
 * that stopped, so the cluster's own view (cluster_state, which turns to fail once the other
 * nodes have given up on it after cluster-node-timeout) is asked as well as every known master.
 */
export async function pingRedis(redis: RedisClient): Promise<void> {
  const servers = keyServers(redis);
  if (servers.length === 0) throw new Error('no Redis Cluster master is known');
  await Promise.all(servers.map((server) => server.ping()));
  if (redis instanceof Cluster) {
    const state = /cluster_state:(\w+)/.exec(String(await redis.cluster('INFO')))?.[1];
    if (state !== 'ok') throw new Error(`the Redis Cluster is in state ${state ?? 'unknown'}`);
  }
}

/** Deletes every key under a prefix, hash-tagged or not (tests, and `npm start --reset`). */
export async function deleteKeysWithPrefix(redis: RedisClient, prefix: string): Promise<void> {
  for (const server of keyServers(redis)) {
    for (const pattern of [`${prefix}:*`, `{${prefix}}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        // One DEL per key: on a cluster the keys a scan returns may sit in different slots.
        if (keys.length > 0) await Promise.all(keys.map((key) => server.unlink(key)));
      } while (cursor !== '0');
    }
  }
}
