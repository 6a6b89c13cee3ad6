import { get } from 'node:http';
import { connect, type Socket } from 'node:net';

/**
 * A live-stream reader that keeps only when each notification frame arrived (by event id), not
 * the frames themselves, so a scenario can measure its own process's memory while big frames
 * flow. `endedByServer` tells whether the stream ended before the client closed it.
 */
export async function openFrameTimer(baseUrl: string, token: string) {
  const arrivals = new Map<string, number>();
  const controller = new AbortController();
  let closing = false;
  let endedByServer = false;
  const res = await fetch(`${baseUrl}/api/v1/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: controller.signal });
  if (res.status !== 200 || !res.body) throw new Error(`stream answered ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const reading = (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) {
        endedByServer = !closing;
        return;
      }
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!frame.includes('event: notification\n')) continue;
        const data = frame.split('\n').find((line) => line.startsWith('data: '));
        if (data) arrivals.set((JSON.parse(data.slice(6)) as { eventId: string }).eventId, performance.now());
      }
    }
  })();
  return {
    arrivals,
    endedByServer: () => endedByServer,
    async close() {
      closing = true;
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

/**
 * The cheapest stream reader for thousands at once: node:http on a socket of its own (no pool,
 * no web streams), keeping only the event ids of notification frames and whether the server
 * ended the stream before the client closed it. Resolves once the server answered 200.
 */
export function openLightStream(baseUrl: string, token: string): Promise<{ eventIds: Set<string>; endedByServer(): boolean; close(): void }> {
  return new Promise((resolve, reject) => {
    const eventIds = new Set<string>();
    let closing = false;
    let endedByServer = false;
    const req = get(`${baseUrl}/api/v1/events`, { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
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
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!frame.includes('event: notification\n')) continue;
          const data = frame.split('\n').find((line) => line.startsWith('data: '));
          if (data) eventIds.add((JSON.parse(data.slice(6)) as { eventId: string }).eventId);
        }
      });
      res.on('close', () => void (endedByServer ||= !closing));
      resolve({
        eventIds,
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
