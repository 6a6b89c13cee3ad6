import { Cluster } from 'ioredis';
import { chunksOf } from '../chunks.ts';
import type { RedisClient } from '../redis.ts';
import type { InboxCounts } from '../inbox/inboxCounts.ts';
import type { NotificationView } from '../inbox/notificationView.ts';
import type { PublicEvent } from '../intake/eventEnvelope.ts';

export type { PublicEvent };

/** Counts per tenant id. */
export type CountsByTenant = Record<string, number>;

/**
 * What travels over Redis pub/sub to whichever API instance holds a user's stream. A user's
 * frames go to every stream of that person, whose tokens may grant different tenants; the
 * fields outside `data` say which tenants a frame is about, so each stream is sent only its
 * own tenants' share (see frameForTenants). Only `data` reaches the browser.
 */
export type LiveFrame =
  /** `cursor` is the row's per-user seq: the stream's resume point (the frame id), not shown in `data`. */
  | { type: 'notification'; data: NotificationView; cursor: string }
  | { type: 'notification.read'; data: { id: string }; tenantId?: string }
  | { type: 'notifications.read_all'; data: { updated: number }; updatedByTenant?: CountsByTenant }
  | { type: 'notifications.seen'; data: { ids: string[] }; idsByTenant?: Record<string, string[]> }
  | { type: 'notification.archived'; data: { ids: string[] }; idsByTenant?: Record<string, string[]> }
  /**
   * `counts` are the new counts of the tenants a change touched, each with its version; a
   * stream merges them into what it knows and sends the sum over its own tenants (SseConnection).
   */
  | { type: 'unread_count'; data: { unread: number; unseen: number }; counts?: InboxCounts }
  | { type: 'event'; data: PublicEvent }
  /** Internal, never sent to a browser: these streams of the user are past the limit and must close (streamLimit.ts). */
  | { type: 'streams.close'; data: Record<string, never>; streamIds: string[] };

/** The new counts of a person, for every stream of theirs; each sends the sum over its own tenants. */
export function unreadCountFrame(counts: InboxCounts): LiveFrame {
  const all = Object.values(counts);
  return { type: 'unread_count', data: { unread: all.reduce((sum, c) => sum + c.unread, 0), unseen: all.reduce((sum, c) => sum + c.unseen, 0) }, counts };
}

/** A frame naming the rows a change touched, for every stream of the person; each sees its own tenants' ids. */
export function changedRowsFrame(type: 'notifications.seen' | 'notification.archived', idsByTenant: Record<string, string[]>): LiveFrame {
  return { type, data: { ids: Object.values(idsByTenant).flat() }, idsByTenant };
}

const sumOver = (counts: CountsByTenant, tenantIds: ReadonlySet<string>) =>
  Object.entries(counts).reduce((sum, [tenantId, n]) => (tenantIds.has(tenantId) ? sum + n : sum), 0);

/**
 * The frame as a stream granted `tenantIds` may see it, or null when it is about none of them:
 * a read in another tenant's inbox is not announced. (Notification and event frames are checked
 * against the stream's tenants by the hub, which also needs their ids; counts are merged by
 * the connection.)
 */
export function frameForTenants(frame: LiveFrame, tenantIds: ReadonlySet<string>): LiveFrame | null {
  switch (frame.type) {
    case 'notification.read':
      return frame.tenantId === undefined || tenantIds.has(frame.tenantId) ? { type: frame.type, data: frame.data } : null;
    case 'notifications.read_all': {
      if (!frame.updatedByTenant) return frame;
      const updated = sumOver(frame.updatedByTenant, tenantIds);
      return updated > 0 ? { type: frame.type, data: { updated } } : null;
    }
    case 'notifications.seen':
    case 'notification.archived': {
      if (!frame.idsByTenant) return frame;
      const ids = Object.entries(frame.idsByTenant).flatMap(([tenantId, list]) => (tenantIds.has(tenantId) ? list : []));
      return ids.length > 0 ? { type: frame.type, data: { ids } } : null;
    }
    case 'streams.close':
      return null;
    default:
      return frame;
  }
}


/** Channels per PUBSUB NUMSUB: a 50,000-user group asks in commands of a bounded size. */
const NUMSUB_CHUNK = 1_000;

export const userChannel = (prefix: string, userId: string) => `${prefix}:live:user:${userId}`;
export const tenantChannel = (prefix: string, tenantId: string) => `${prefix}:live:tenant:${tenantId}`;

/**
 * Publishes live frames. A message carries every frame one publish has for a channel (a user's
 * new rows and their count travel together; a routed group's events of one tenant, in order),
 * and the messages go out in one pipeline: a routed group, or a 10,000-user fan-out, is one
 * round trip. Sent apart, a pass's events would cost a PUBLISH each, and every API instance
 * listening to their tenant a message each.
 */
export function createFramePublisher(redis: RedisClient, prefix: string) {
  async function publishMany(messages: { channel: string; frames: LiveFrame[] }[]): Promise<void> {
    const byChannel = new Map<string, LiveFrame[]>();
    for (const { channel, frames } of messages) (byChannel.get(channel) ?? byChannel.set(channel, []).get(channel)!).push(...frames);
    if (byChannel.size === 0) return;
    const pipeline = redis.pipeline();
    for (const [channel, frames] of byChannel) pipeline.publish(channel, JSON.stringify(frames));
    await pipeline.exec();
  }
  type Messages = { users?: { userId: string; frames: LiveFrame[] }[]; tenants?: { tenantId: string; frame: LiveFrame }[] };
  /** People's and tenants' frames in one pipeline: one round trip, and one message per channel, for all a routing pass announces. */
  const publish = ({ users = [], tenants = [] }: Messages) =>
    publishMany([
      ...users.map(({ userId, frames }) => ({ channel: userChannel(prefix, userId), frames })),
      ...tenants.map(({ tenantId, frame }) => ({ channel: tenantChannel(prefix, tenantId), frames: [frame] })),
    ]);
  /**
   * Of these users, those whose channel an API instance listens on now: the ones holding a
   * stream. A large fan-out sends frames only to them — most of 10,000 people have no stream
   * open, and their frames would cost a message each for nobody. Asked after the rows
   * committed, this misses no stream: a hub subscribes before it reads where the stream starts
   * (see SseHub.open), so a stream not counted yet starts past these rows, or replays them.
   * A cluster relays every message to every node, and each node counts only its own
   * subscribers, so every node is asked and the counts add up. A node that cannot answer (or
   * no node known yet) counts everyone it was asked about as listening: a frame too many is
   * harmless, one too few is not.
   */
  async function listeningUsers(userIds: string[]): Promise<Set<string>> {
    const servers = redis instanceof Cluster ? redis.nodes('all') : [redis];
    if (servers.length === 0) return new Set(userIds);
    const chunks = chunksOf(userIds, NUMSUB_CHUNK);
    const listening = new Set<string>();
    await Promise.all(
      servers.flatMap((server) =>
        chunks.map(async (chunk) => {
          const reply = (await server.call('PUBSUB', 'NUMSUB', ...chunk.map((userId) => userChannel(prefix, userId))).catch(() => null)) as (string | number)[] | null;
          chunk.forEach((userId, i) => (reply === null || Number(reply[2 * i + 1]) > 0) && listening.add(userId));
        }),
      ),
    );
    return listening;
  }
  return {
    publish,
    listeningUsers,
    toUsers: (users: NonNullable<Messages['users']>) => publish({ users }),
    toUser: (userId: string, ...frames: LiveFrame[]) => publish({ users: [{ userId, frames }] }),
    toTenants: (tenants: NonNullable<Messages['tenants']>) => publish({ tenants }),
  };
}

/** The frames of one pub/sub message (see createFramePublisher); null when it is not one of ours. */
export function parseFrameMessage(message: string): LiveFrame[] | null {
  try {
    const parsed: unknown = JSON.parse(message);
    return Array.isArray(parsed) ? (parsed as LiveFrame[]) : null;
  } catch {
    return null;
  }
}

export type FramePublisher = ReturnType<typeof createFramePublisher>;
