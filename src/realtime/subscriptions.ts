import type { RedisClient } from '../redis.ts';

/** Channels that go out in one SUBSCRIBE, and its answer. */
type Batch = { channels: string[]; sent: Promise<void> };

/**
 * A pub/sub connection's SUBSCRIBEs and UNSUBSCRIBEs, sent one at a time in the order asked;
 * the channels asked for while one is on its way go out together in the next SUBSCRIBE.
 *
 * ioredis writes a SUBSCRIBE at once while its connection is still in its handshake, and the
 * handshake's ready check then fails on a connection in subscriber mode: ioredis reconnects
 * without the subscription (redis/ioredis#2037). The subscriber role skips the ready check
 * (createRedis), but a cluster's subscriber is a connection ioredis makes itself, with the
 * check, lazily on the first SUBSCRIBE. That first one waits in ioredis's queue until the
 * connection is ready; sending the next only once it is answered keeps every later one out of
 * the handshake. A burst of stream opens also costs one command instead of one each.
 */
export function createSubscriptions(subscriber: RedisClient) {
  let tail: Promise<unknown> = Promise.resolve();
  /** The SUBSCRIBE still waiting for its turn, which new channels join. */
  let gathering: Batch | null = null;

  function subscribe(channels: string[]): Promise<void> {
    if (channels.length === 0) return Promise.resolve();
    if (!gathering) {
      const batch: Batch = { channels: [], sent: Promise.resolve() };
      batch.sent = tail.then(async () => {
        if (gathering === batch) gathering = null;
        await subscriber.subscribe(...batch.channels);
      });
      tail = batch.sent.catch(() => {});
      gathering = batch;
    }
    gathering.channels.push(...channels);
    return gathering.sent;
  }

  /** After every SUBSCRIBE asked before it, so a channel left at once is not subscribed again behind its UNSUBSCRIBE. */
  function unsubscribe(channels: string[]): Promise<void> {
    if (channels.length === 0) return Promise.resolve();
    gathering = null;
    const sent = tail.then(async () => {
      await subscriber.unsubscribe(...channels);
    });
    tail = sent.catch(() => {});
    return sent;
  }

  return { subscribe, unsubscribe };
}
