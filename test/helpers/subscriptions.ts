import type { createSubscriptions } from '../../src/realtime/subscriptions.ts';
import { keyServers, type RedisClient } from '../../src/redis.ts';
import { eventually } from './api.ts';

/**
 * Asks `subscriptions` for `count` channels named after `prefix`, one per turn of the event
 * loop, as stream opens arrive: the first sets a fresh connection connecting, the next ones
 * land while it is in its handshake. Resolves with the channels once every one was answered.
 */
export async function subscribingWhileConnecting(subscriptions: ReturnType<typeof createSubscriptions>, prefix: string, count: number): Promise<string[]> {
  const channels = Array.from({ length: count }, (_, i) => `${prefix}:${i}`);
  const answered: Promise<void>[] = [];
  for (const channel of channels) {
    answered.push(subscriptions.subscribe([channel]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(answered);
  return channels;
}

/**
 * Publishes one message to each channel the subscribers hold once Redis counts a subscriber
 * on every one (on a cluster, each node counts its own, so they are summed), and returns the
 * channels whose subscriber heard its message, in the order given.
 */
export async function heardOnEachChannel(publisher: RedisClient, subscribers: { subscriber: RedisClient; channels: string[] }[]): Promise<string[]> {
  const heard = new Set<string>();
  const all = subscribers.flatMap(({ subscriber, channels }) => {
    subscriber.on('message', (channel: string) => channels.includes(channel) && heard.add(channel));
    return channels;
  });
  const counted = async () => {
    const replies = (await Promise.all(keyServers(publisher).map((server) => server.call('PUBSUB', 'NUMSUB', ...all)))) as (string | number)[][];
    return all.every((_, i) => replies.reduce((sum, reply) => sum + Number(reply[2 * i + 1]), 0) >= 1);
  };
  await eventually(counted, 10_000).catch(() => {});
  for (const channel of all) await publisher.publish(channel, channel);
  await eventually(async () => heard.size === all.length, 3_000).catch(() => {});
  return all.filter((channel) => heard.has(channel));
}
