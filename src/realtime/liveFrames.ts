import type { Redis } from 'ioredis';
import type { NotificationView } from '../inbox/notificationView.ts';
import type { PublicEvent } from '../intake/eventEnvelope.ts';

export type { PublicEvent };

/** What travels over Redis pub/sub to whichever API instance holds a user's stream. */
export type LiveFrame =
  | { type: 'notification'; data: NotificationView }
  | { type: 'notification.read'; data: { id: string } }
  | { type: 'notifications.read_all'; data: { updated: number } }
  | { type: 'unread_count'; data: { unread: number } }
  | { type: 'event'; data: PublicEvent };


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
    toTenant: (tenantId: string, frame: LiveFrame) => publishMany([{ channel: tenantChannel(prefix, tenantId), frame }]),
  };
}

export type FramePublisher = ReturnType<typeof createFramePublisher>;
