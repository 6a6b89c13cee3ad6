import type { Redis } from 'ioredis';
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
  | { type: 'notification'; data: NotificationView }
  | { type: 'notification.read'; data: { id: string }; tenantId?: string }
  | { type: 'notifications.read_all'; data: { updated: number }; updatedByTenant?: CountsByTenant }
  | { type: 'unread_count'; data: { unread: number }; unreadByTenant?: CountsByTenant }
  | { type: 'event'; data: PublicEvent };

/** An unread count for every stream of a person; each stream is sent the sum over its own tenants. */
export function unreadCountFrame(byTenant: CountsByTenant): LiveFrame {
  return { type: 'unread_count', data: { unread: Object.values(byTenant).reduce((a, b) => a + b, 0) }, unreadByTenant: byTenant };
}

const sumOver = (counts: CountsByTenant, tenantIds: ReadonlySet<string>) =>
  Object.entries(counts).reduce((sum, [tenantId, n]) => (tenantIds.has(tenantId) ? sum + n : sum), 0);

/**
 * The frame as a stream granted `tenantIds` may see it, or null when it is about none of them:
 * an unread count is the sum over the stream's tenants, and a read in another tenant's inbox
 * is not announced. (Notification and event frames are checked against the stream's tenants by
 * the hub, which also needs their ids.)
 */
export function frameForTenants(frame: LiveFrame, tenantIds: ReadonlySet<string>): LiveFrame | null {
  switch (frame.type) {
    case 'unread_count':
      return frame.unreadByTenant ? { type: frame.type, data: { unread: sumOver(frame.unreadByTenant, tenantIds) } } : frame;
    case 'notification.read':
      return frame.tenantId === undefined || tenantIds.has(frame.tenantId) ? { type: frame.type, data: frame.data } : null;
    case 'notifications.read_all': {
      if (!frame.updatedByTenant) return frame;
      const updated = sumOver(frame.updatedByTenant, tenantIds);
      return updated > 0 ? { type: frame.type, data: { updated } } : null;
    }
    default:
      return frame;
  }
}


export const userChannel = (prefix: string, userId: string) => `${prefix}:live:user:${userId}`;
export const tenantChannel = (prefix: string, tenantId: string) => `${prefix}:live:tenant:${tenantId}`;

/** Publishes live frames; many at once go out in one pipeline (a 10,000-user fan-out is one round trip). */
export function createFramePublisher(redis: Redis, prefix: string) {
  async function publishMany(items: { channel: string; frame: LiveFrame }[]): Promise<void> {
    if (items.length === 0) return;
    const pipeline = redis.pipeline();
    for (const { channel, frame } of items) pipeline.publish(channel, JSON.stringify(frame));
    await pipeline.exec();
  }
  return {
    toUsers: (frames: { userId: string; frame: LiveFrame }[]) =>
      publishMany(frames.map(({ userId, frame }) => ({ channel: userChannel(prefix, userId), frame }))),
    toUser: (userId: string, ...frames: LiveFrame[]) =>
      publishMany(frames.map((frame) => ({ channel: userChannel(prefix, userId), frame }))),
    toTenants: (frames: { tenantId: string; frame: LiveFrame }[]) =>
      publishMany(frames.map(({ tenantId, frame }) => ({ channel: tenantChannel(prefix, tenantId), frame }))),
  };
}

export type FramePublisher = ReturnType<typeof createFramePublisher>;
