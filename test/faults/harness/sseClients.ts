import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createFramePublisher } from '../../../src/realtime/liveFrames.ts';
import { eventually } from '../../helpers/api.ts';
import type { TestEnv } from '../../helpers/testEnv.ts';

/**
 * A live-stream reader that keeps only when each notification frame arrived and how many copies
 * of it came (by event id), and the ids of tenant event frames — not the frames themselves, so a
 * scenario can measure its own process's memory while big frames flow. Like a browser's
 * EventSource, it comes back when the server ends its stream (a stream that fell too far behind
 * is ended so that the client resumes, SPEC §5) with Last-Event-ID set to the last frame id it
 * got; `resumes` counts those, and a replay that repeated a notification shows in `copies`.
 */
export async function openFrameTimer(baseUrl: string, token: string) {
  const arrivals = new Map<string, number>();
  const copies = new Map<string, number>();
  const tenantEvents = new Set<string>();
  const controller = new AbortController();
  let lastFrameId: string | undefined;
  let resumes = 0;

  async function open() {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastFrameId && { 'last-event-id': lastFrameId }) };
    const res = await fetch(`${baseUrl}/api/v1/events`, { headers, signal: controller.signal });
    if (res.status !== 200 || !res.body) throw new Error(`stream answered ${res.status}`);
    return res.body.pipeThrough(new TextDecoderStream()).getReader();
  }

  async function read(reader: ReadableStreamDefaultReader<string>): Promise<void> {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = frame.split('\n').find((line) => line.startsWith('id: '));
        if (id) lastFrameId = id.slice(4);
        const isNotification = frame.includes('event: notification\n');
        if (!isNotification && !frame.includes('event: event\n')) continue;
        const data = frame.split('\n').find((line) => line.startsWith('data: '));
        if (!data) continue;
        const parsed = JSON.parse(data.slice(6)) as { eventId: string; id: string };
        if (!isNotification) {
          tenantEvents.add(parsed.id);
          continue;
        }
        if (!arrivals.has(parsed.eventId)) arrivals.set(parsed.eventId, performance.now());
        copies.set(parsed.eventId, (copies.get(parsed.eventId) ?? 0) + 1);
      }
    }
  }

  const first = await open();
  const reading = (async () => {
    let reader = first;
    for (;;) {
      await read(reader);
      if (controller.signal.aborted) return;
      resumes++;
      try {
        reader = await open();
      } catch {
        return;
      }
    }
  })();
  return {
    arrivals,
    copies,
    tenantEvents,
    get resumes() {
      return resumes;
    },
    async close() {
      controller.abort();
      await reading;
    },
  };
}

/**
 * A client that opens the stream, reads the response headers and then never reads again: the
 * kernel buffers fill, then the server's, and the server must drop this client's frames.
 */
export async function openStalledStream(baseUrl: string, token: string): Promise<{ socket: Socket; close(): void }> {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString();
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      // From here on nothing is read: the socket stays paused for good.
      socket.pause();
      if (!head.startsWith('HTTP/1.1 200')) reject(new Error(`stalled stream answered ${head.split('\r\n')[0]}`));
      else resolve();
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  return { socket, close: () => socket.destroy() };
}

export type FrameTimer = Awaited<ReturnType<typeof openFrameTimer>>;

/**
 * Publishes a tenant event frame and waits until every reader has it. The API instance hears
 * Redis over one connection, in publish order, so by then every frame published before the
 * fence has reached the readers too (or, for a reader that came back meanwhile, the replay has:
 * the frames counted are notifications, which a resume replays): counts taken afterwards are
 * final for what came before.
 */
export async function fenceStreams(env: TestEnv, tenantId: string, readers: FrameTimer[]): Promise<void> {
  const id = `fence_${Date.now()}`;
  const data = { id, type: 'fence', tenantId, severity: null, occurredAt: new Date().toISOString(), data: {} };
  const publisher = createFramePublisher(env.redis, env.config.REDIS_PREFIX);
  // Published again until every reader has it: a reader coming back from a stream the server
  // ended may have been away when one copy went out (tenant event frames are not replayed).
  await eventually(async () => {
    if (readers.every((r) => r.tenantEvents.has(id))) return true;
    await publisher.toTenants([{ tenantId, frame: { type: 'event', data } }]);
    return false;
  }, 20_000, 250);
}

/** What a light stream reader keeps: the notifications' event ids, in order, and the id of the last frame of any type. */
export type LightStream = { eventIds: string[]; lastFrameId(): string | undefined; endedByServer(): boolean; close(): void };

/**
 * The cheapest stream reader for thousands at once: node:http on a socket of its own (no pool,
 * no web streams), keeping only the event ids of notification frames, the last frame id (to
 * resume from) and whether the server ended the stream before the client closed it. Resolves
 * once the server answered 200.
 */
export function openLightStream(baseUrl: string, token: string, lastEventId?: string): Promise<LightStream> {
  return new Promise((resolve, reject) => {
    const eventIds: string[] = [];
    let lastFrameId: string | undefined;
    let closing = false;
    let endedByServer = false;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastEventId && { 'last-event-id': lastEventId }) };
    const req = get(`${baseUrl}/api/v1/events`, { agent: false, headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`stream answered ${res.statusCode}`));
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const field = (name: string) => frame.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2);
          const id = field('id');
          if (id !== undefined) lastFrameId = id;
          const data = field('data');
          if (field('event') === 'notification' && data) eventIds.push((JSON.parse(data) as { eventId: string }).eventId);
        }
      });
      res.on('close', () => void (endedByServer ||= !closing));
      resolve({
        eventIds,
        lastFrameId: () => lastFrameId,
        endedByServer: () => endedByServer,
        close: () => {
          closing = true;
          req.destroy();
        },
      });
    });
    req.on('error', (err) => (closing ? undefined : reject(err)));
  });
}

/**
 * A light stream that behaves like a browser's EventSource when the server ends it: it comes back
 * with the id of the last frame it got, and its event ids run on across the reconnects. The
 * server ends a stream that fell too far behind (SseConnection), counting on exactly this.
 */
export async function openResumingStream(baseUrl: string, token: string): Promise<LightStream & { reconnects(): number }> {
  const earlier: string[] = [];
  let current = await openLightStream(baseUrl, token);
  let reconnects = 0;
  let closed = false;
  let reopening = false;
  const watch = setInterval(() => {
    if (closed || reopening || !current.endedByServer()) return;
    reopening = true;
    const ended = current;
    openLightStream(baseUrl, token, ended.lastFrameId())
      .then((next) => {
        earlier.push(...ended.eventIds);
        current = next;
        reconnects++;
      })
      // Refused or unreachable: tried again at the next tick, as a browser would.
      .catch(() => {})
      .finally(() => (reopening = false));
  }, 100);
  return {
    get eventIds() {
      return [...earlier, ...current.eventIds];
    },
    lastFrameId: () => current.lastFrameId(),
    endedByServer: () => current.endedByServer(),
    reconnects: () => reconnects,
    close() {
      closed = true;
      clearInterval(watch);
      current.close();
    },
  };
}
