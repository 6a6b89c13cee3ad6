import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RedisClient } from '../redis.ts';
import type { InboxCounts } from '../inbox/inboxCounts.ts';
import type { CursoredNotification } from '../inbox/inboxStore.ts';
import type { NotificationView } from '../inbox/notificationView.ts';
import type { Logger } from '../logger.ts';
import { sseFramesDropped } from '../metrics/processMetrics.ts';
import { frameForTenants, parseFrameMessage, tenantChannel, userChannel, type LiveFrame } from './liveFrames.ts';
import { parseStreamCursor, SseConnection } from './sseConnection.ts';
import { CLOSED_OLDEST_RETRY_MS, registerStream, unregisterStream } from './streamLimit.ts';
import { createSubscriptions } from './subscriptions.ts';

export type StreamSource = {
  /** Notifications of this user (in these tenants) after a cursor (and before another, when given), in cursor order. */
  notificationsAfter(userId: string, tenantIds: string[], afterCursor: bigint, limit: number, beforeCursor?: bigint): Promise<CursoredNotification[]>;
  latestCursor(userId: string): Promise<bigint>;
  /** The user's unread counts in these tenants, with their versions. */
  counts(userId: string, tenantIds: string[]): Promise<InboxCounts>;
  /** Called for every notification frame a stream carried (in-app "delivered"). */
  carried(notification: NotificationView, userId: string): void;
};

export type SseHubOptions = {
  subscriber: RedisClient;
  /** For the per-user stream limit and its close signal (any command connection). */
  redis: RedisClient;
  prefix: string;
  source: StreamSource;
  logger: Logger;
  heartbeatMs?: number;
  bufferLimit?: number;
  replayLimit?: number;
};

/** When a stream that missed frames is asked to come back: spread, so every browser of an instance does not reconnect at once. */
const RESUBSCRIBED_RETRY_MS = { min: 500, max: 5_000 };

/**
 * Holds this instance's live streams. Frames arrive over Redis pub/sub from any instance (one
 * channel per user and per tenant, subscribed while a connection needs it) and are written to
 * every open tab of the user. Each connection has its own bounded backlog, so a stalled
 * browser loses its own frames and never delays anyone else's.
 *
 * A user's notifications reach each stream in cursor order, each once. They commit in that
 * order (see insertInboxRows), but their frames come from whichever process wrote them and may
 * cross on the way: a stream that carried seq 11 before seq 10 arrived would hand out 11 as its
 * resume point, and 10 would be lost to a reconnect. So a frame past the next expected seq
 * holds the stream's frames back while the gap is read from the inbox — every row below a
 * committed seq has committed already, so the read is complete — and then everything goes out
 * in order; a frame at or below the cursor is one the stream carried already.
 */
export function createSseHub(options: SseHubOptions) {
  const { subscriber, redis, prefix, source, logger } = options;
  const bufferLimit = options.bufferLimit ?? 128;
  const replayLimit = options.replayLimit ?? 500;
  const byChannel = new Map<string, Set<SseConnection>>();
  const connections = new Set<SseConnection>();
  /** Connections opening or filling a gap: their live frames wait here, in order. */
  const held = new Map<SseConnection, LiveFrame[]>();
  const subscriptions = createSubscriptions(subscriber);
  /** Channels whose SUBSCRIBE has not been answered yet. */
  const subscribing = new Map<string, Promise<unknown>>();
  let droppedFrames = 0;

  // Frames published while the subscriber's connection is away never reach this instance, and
  // a stream would only learn of the loss from a later frame of its user, maybe never. So the
  // streams open when it went away end once it is back, each asking its browser to come back
  // at a different moment within a few seconds; the resume from the last id it got replays
  // what was missed, and sends the current counts.
  const unheard = new Set<SseConnection>();
  subscriber.on('close', () => {
    for (const connection of connections) unheard.add(connection);
  });
  subscriber.on('ready', () => {
    for (const connection of unheard) connection.end(RESUBSCRIBED_RETRY_MS.min + Math.random() * (RESUBSCRIBED_RETRY_MS.max - RESUBSCRIBED_RETRY_MS.min));
    unheard.clear();
  });

  subscriber.on('message', (channel: string, message: string) => {
    const listeners = byChannel.get(channel);
    if (!listeners || listeners.size === 0) return;
    const frames = parseFrameMessage(message);
    if (!frames) return;
    for (const connection of listeners) for (const frame of frames) deliver(connection, frame);
  });

  function deliver(connection: SseConnection, frame: LiveFrame): void {
    const waiting = held.get(connection);
    if (waiting) {
      waiting.push(frame);
      return;
    }
    if (frame.type === 'notification') {
      const seq = BigInt(frame.cursor);
      if (seq <= connection.cursor) return;
      if (seq > connection.cursor + 1n) {
        held.set(connection, [frame]);
        void fillGap(connection, seq);
        return;
      }
      return carry(connection, frame);
    }
    if (frame.type === 'unread_count' && frame.counts) return connection.sendCounts(frame.counts);
    if (frame.type === 'streams.close') {
      if (frame.streamIds.includes(connection.id)) connection.end(CLOSED_OLDEST_RETRY_MS);
      return;
    }
    const visible = frameForTenants(frame, connection.tenantIds);
    if (visible) connection.send(visible);
  }

  /** The next notification in cursor order: sent when it is one of the stream's tenants', skipped (cursor moved past) when not. */
  function carry(connection: SseConnection, frame: Extract<LiveFrame, { type: 'notification' }>): void {
    if (!connection.tenantIds.has(frame.data.tenantId)) {
      connection.cursor = BigInt(frame.cursor);
      return;
    }
    if (connection.send(frame)) source.carried(frame.data, connection.userId);
  }

  /** Reads the notifications between the cursor and `upTo` from the inbox, carries them, then the frames held meanwhile. */
  async function fillGap(connection: SseConnection, upTo: bigint): Promise<void> {
    try {
      for (;;) {
        const rows = await source.notificationsAfter(connection.userId, [...connection.tenantIds], connection.cursor, replayLimit, upTo);
        for (const row of rows) if (BigInt(row.cursor) > connection.cursor) carry(connection, { type: 'notification', ...row });
        if (rows.length < replayLimit) break;
      }
      // Whatever lies below upTo and was not read is not this stream's (another tenant's row, or a number no row took).
      if (connection.cursor < upTo - 1n) connection.cursor = upTo - 1n;
    } catch (err) {
      // The held frames still go out; a reconnect replays from the inbox what this read would have.
      logger.warn({ err, userId: connection.userId }, 'could not read a gap in a live stream from the inbox');
    }
    release(connection);
  }

  /** Lets a connection's held frames go, in order; one of them may start another gap, which holds the rest again. */
  function release(connection: SseConnection): void {
    const waiting = held.get(connection);
    held.delete(connection);
    if (!waiting || connection.isClosed) return;
    for (let i = 0; i < waiting.length; i++) {
      deliver(connection, waiting[i]!);
      const again = held.get(connection);
      if (again) {
        again.push(...waiting.slice(i + 1));
        return;
      }
    }
  }

  function onDrop(connection: SseConnection): void {
    droppedFrames++;
    sseFramesDropped.inc();
    if (connection.dropped === 1 || connection.dropped % 100 === 0) {
      logger.warn({ userId: connection.userId, dropped: connection.dropped }, 'sse client is not reading; dropping frames');
    }
  }

  /**
   * Resolves once Redis has every channel subscribed, including a channel another connection's
   * SUBSCRIBE is still on its way for: an open reads where its stream starts only after this,
   * which is what lets a large fan-out skip the users nobody listens to (listeningUsers).
   */
  async function subscribe(channels: string[], connection: SseConnection): Promise<void> {
    const fresh: string[] = [];
    const waits: Promise<unknown>[] = [];
    for (const channel of channels) {
      let set = byChannel.get(channel);
      if (!set) byChannel.set(channel, (set = new Set()));
      const pending = subscribing.get(channel);
      if (set.size === 0) fresh.push(channel);
      else if (pending) waits.push(pending);
      set.add(connection);
    }
    if (fresh.length > 0) {
      const done = subscriptions.subscribe(fresh).finally(() => {
        for (const channel of fresh) if (subscribing.get(channel) === done) subscribing.delete(channel);
      });
      for (const channel of fresh) subscribing.set(channel, done);
      waits.push(done);
    }
    await Promise.all(waits);
  }

  function unsubscribe(channels: string[], connection: SseConnection): void {
    const idle: string[] = [];
    for (const channel of channels) {
      const set = byChannel.get(channel);
      if (!set?.delete(connection)) continue;
      if (set.size === 0) {
        byChannel.delete(channel);
        idle.push(channel);
      }
    }
    subscriptions.unsubscribe(idle).catch(() => {});
  }

  const heartbeat = setInterval(() => {
    for (const connection of connections) connection.heartbeat();
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  /**
   * Opens a stream: subscribe first, so nothing published from here on is missed; read the
   * replay, the cursor and the count; only then send the headers, the replay, the count, and the
   * live frames that arrived meanwhile, in that order. Until the headers are out the connection
   * writes nothing (see SseConnection), so a heartbeat or a shutdown during a slow open cannot
   * break it. A failure before the headers is thrown for the error handler to answer; after
   * them nothing can fail.
   */
  async function open(req: IncomingMessage, res: ServerResponse, user: { userId: string; tenantIds: string[] }): Promise<void> {
    const resumeFrom = parseStreamCursor(req.headers['last-event-id'] as string | undefined);
    const tenantIds = new Set(user.tenantIds);
    const channels = [userChannel(prefix, user.userId), ...user.tenantIds.map((t) => tenantChannel(prefix, t))];

    const connection = new SseConnection(res, user.userId, tenantIds, resumeFrom ?? 0n, bufferLimit, onDrop);
    connections.add(connection);
    held.set(connection, []);
    let forgotten = false;
    const forget = () => {
      if (forgotten) return;
      forgotten = true;
      connections.delete(connection);
      held.delete(connection);
      unheard.delete(connection);
      unsubscribe(channels, connection);
      unregisterStream(redis, prefix, user.userId, connection.id).catch(() => {});
    };
    res.on('close', forget);
    if (res.destroyed) return forget();

    let replay: CursoredNotification[];
    let latest: bigint;
    let counts: InboxCounts;
    try {
      await subscribe(channels, connection);
      const overLimit = await registerStream(redis, prefix, user.userId, connection.id);
      // The user's oldest streams past the limit, on whichever instance holds them, close with a retry hint.
      if (overLimit.length > 0) await redis.publish(userChannel(prefix, user.userId), JSON.stringify([{ type: 'streams.close', data: {}, streamIds: overLimit }]));
      [replay, latest, counts] = await Promise.all([
        resumeFrom !== null ? source.notificationsAfter(user.userId, user.tenantIds, resumeFrom, replayLimit) : Promise.resolve([]),
        resumeFrom === null ? source.latestCursor(user.userId) : Promise.resolve(resumeFrom),
        source.counts(user.userId, user.tenantIds),
      ]);
    } catch (err) {
      forget();
      // The client left, or the hub ended the stream, while it opened: there is nobody to answer.
      if (connection.isClosed) return;
      throw err;
    }
    if (connection.isClosed) return forget();

    connection.begin();
    for (const notification of replay) carry(connection, { type: 'notification', ...notification });
    // A fresh stream's cursor starts at the newest notification it did not need to carry.
    if (latest > connection.cursor) connection.cursor = latest;
    // Every stream starts with its count, a resumed one too, so a tab that slept shows no stale badge.
    connection.sendCounts(counts, true);
    release(connection);
  }

  return {
    open,
    stats: () => ({ connections: connections.size, droppedFrames, subscribedChannels: byChannel.size }),
    /** Ends every stream with a retry hint, so browsers reconnect to another instance. */
    async close(): Promise<void> {
      clearInterval(heartbeat);
      for (const connection of connections) connection.end(1_000);
      connections.clear();
      byChannel.clear();
    },
  };
}

export type SseHub = ReturnType<typeof createSseHub>;
