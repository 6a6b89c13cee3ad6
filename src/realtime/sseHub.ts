import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { NotificationView } from '../inbox/notificationView.ts';
import type { Logger } from '../logger.ts';
import { sseFramesDropped } from '../metrics/processMetrics.ts';
import { frameForTenants, tenantChannel, userChannel, type LiveFrame } from './liveFrames.ts';
import { parseStreamCursor, SseConnection } from './sseConnection.ts';

export type StreamSource = {
  /** Notifications of this user (in these tenants) after a cursor, oldest first. */
  notificationsAfter(userId: string, tenantIds: string[], afterId: bigint, limit: number): Promise<NotificationView[]>;
  latestNotificationId(userId: string): Promise<bigint>;
  unreadCount(userId: string, tenantIds: string[]): Promise<number>;
  /** Called for every notification frame a stream carried (in-app "delivered"). */
  carried(notification: NotificationView, userId: string): void;
};

export type SseHubOptions = {
  subscriber: Redis;
  prefix: string;
  source: StreamSource;
  logger: Logger;
  heartbeatMs?: number;
  bufferLimit?: number;
  replayLimit?: number;
};

/**
 * Holds this instance's live streams. Frames arrive over Redis pub/sub from any instance (one
 * channel per user and per tenant, subscribed while a connection needs it) and are written to
 * every open tab of the user. Each connection has its own bounded backlog, so a stalled
 * browser loses its own frames and never delays anyone else's.
 */
export function createSseHub(options: SseHubOptions) {
  const { subscriber, prefix, source, logger } = options;
  const bufferLimit = options.bufferLimit ?? 128;
  const replayLimit = options.replayLimit ?? 500;
  const byChannel = new Map<string, Set<SseConnection>>();
  /** Connections still replaying: their live frames wait here, in order. */
  const held = new Map<SseConnection, LiveFrame[]>();
  let droppedFrames = 0;

  subscriber.on('message', (channel: string, message: string) => {
    const connections = byChannel.get(channel);
    if (!connections || connections.size === 0) return;
    let frame: LiveFrame;
    try {
      frame = JSON.parse(message) as LiveFrame;
    } catch {
      return;
    }
    for (const connection of connections) deliver(connection, frame);
  });

  function deliver(connection: SseConnection, frame: LiveFrame): void {
    const waiting = held.get(connection);
    if (waiting) {
      waiting.push(frame);
      return;
    }
    if (frame.type === 'notification') {
      // The same notification may come from replay and live (it was committed in between): send it once.
      if (!connection.tenantIds.has(frame.data.tenantId) || BigInt(frame.data.id) <= connection.replayedUpTo) return;
      if (connection.send(frame)) source.carried(frame.data, connection.userId);
      return;
    }
    const visible = frameForTenants(frame, connection.tenantIds);
    if (visible) connection.send(visible);
  }

  function onDrop(connection: SseConnection): void {
    droppedFrames++;
    sseFramesDropped.inc();
    if (connection.dropped === 1 || connection.dropped % 100 === 0) {
      logger.warn({ userId: connection.userId, dropped: connection.dropped }, 'sse client is not reading; dropping frames');
    }
  }

  async function subscribe(channels: string[], connection: SseConnection): Promise<void> {
    const fresh: string[] = [];
    for (const channel of channels) {
      let set = byChannel.get(channel);
      if (!set) byChannel.set(channel, (set = new Set()));
      if (set.size === 0) fresh.push(channel);
      set.add(connection);
    }
    if (fresh.length > 0) await subscriber.subscribe(...fresh);
  }

  function unsubscribe(channels: string[], connection: SseConnection): void {
    const idle: string[] = [];
    for (const channel of channels) {
      const set = byChannel.get(channel);
      if (!set) continue;
      set.delete(connection);
      if (set.size === 0) {
        byChannel.delete(channel);
        idle.push(channel);
      }
    }
    if (idle.length > 0) subscriber.unsubscribe(...idle).catch(() => {});
  }

  const heartbeat = setInterval(() => {
    for (const connection of allConnections()) connection.heartbeat();
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  function allConnections(): Set<SseConnection> {
    const all = new Set<SseConnection>();
    for (const [channel, set] of byChannel) if (channel.includes(':live:user:')) for (const c of set) all.add(c);
    return all;
  }

  /**
   * Opens a stream: subscribe first, then send headers, replay what a reconnecting client
   * missed, then live frames — so nothing published after the request arrived is lost.
   */
  async function open(req: IncomingMessage, res: ServerResponse, user: { userId: string; tenantIds: string[] }): Promise<void> {
    const resumeFrom = parseStreamCursor(req.headers['last-event-id'] as string | undefined);
    const tenantIds = new Set(user.tenantIds);
    const channels = [userChannel(prefix, user.userId), ...user.tenantIds.map((t) => tenantChannel(prefix, t))];

    const connection = new SseConnection(res, user.userId, tenantIds, resumeFrom ?? 0n, bufferLimit, onDrop);
    held.set(connection, []);
    req.on('close', () => {
      held.delete(connection);
      unsubscribe(channels, connection);
    });

    try {
      await subscribe(channels, connection);
      const [replay, latest, unread] = await Promise.all([
        resumeFrom !== null ? source.notificationsAfter(user.userId, user.tenantIds, resumeFrom, replayLimit) : Promise.resolve([]),
        resumeFrom === null ? source.latestNotificationId(user.userId) : Promise.resolve(resumeFrom),
        source.unreadCount(user.userId, user.tenantIds),
      ]);
      if (res.destroyed) return;
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      });
      res.write('retry: 3000\n\n');
      const waiting = held.get(connection) ?? [];
      held.delete(connection);
      for (const notification of replay) deliver(connection, { type: 'notification', data: notification });
      connection.replayedUpTo = connection.cursor;
      // A fresh stream's cursor starts at the newest notification it did not need to carry.
      if (latest > connection.cursor) connection.cursor = latest;
      connection.send({ type: 'unread_count', data: { unread } });
      for (const frame of waiting) deliver(connection, frame);
    } catch (err) {
      held.delete(connection);
      unsubscribe(channels, connection);
      throw err;
    }
  }

  return {
    open,
    stats: () => ({ connections: allConnections().size, droppedFrames }),
    /** Ends every stream with a retry hint, so browsers reconnect to another instance. */
    async close(): Promise<void> {
      clearInterval(heartbeat);
      for (const connection of allConnections()) connection.end(1_000);
      byChannel.clear();
    },
  };
}

export type SseHub = ReturnType<typeof createSseHub>;
