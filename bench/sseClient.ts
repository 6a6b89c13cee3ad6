import http from 'node:http';
import net from 'node:net';

export type SseFrame = { type: string; data: string };

export type SseStream = { close(): void; readonly closed: boolean };

export type SseHandlers = {
  /** Every complete frame (comments and retry lines are skipped). */
  onFrame?: (frame: SseFrame, receivedAt: number) => void;
  /** Every chunk as it arrives, unparsed: the cheap path for thousands of streams. */
  onChunk?: (chunk: Buffer, receivedAt: number) => void;
  onClose?: () => void;
};

/**
 * A minimal EventSource over node:http: one unpooled socket per stream (agent: false), so
 * thousands can be held open; no reconnects. Resolves once the server answered 200.
 */
export function openSse(url: string, headers: Record<string, string>, handlers: SseHandlers): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`stream ${url} answered ${res.statusCode}`));
        return;
      }
      res.socket.setNoDelay(true);
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        const at = performance.now();
        handlers.onChunk?.(chunk, at);
        if (!handlers.onFrame) return;
        buffer += chunk.toString('utf8');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let type = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) handlers.onFrame({ type, data: data.join('\n') }, at);
        }
      });
      res.on('close', () => {
        closed = true;
        handlers.onClose?.();
      });
      resolve({
        close: () => {
          closed = true;
          req.destroy();
        },
        get closed() {
          return closed;
        },
      });
    });
    req.on('error', (err) => {
      closed = true;
      reject(err);
    });
  });
}

/** Runs `task` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!, i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * The cheapest possible stream client, for the scale scenario: a raw TCP socket with a
 * hand-written HTTP/1.1 request and no response parser — chunks are handed over as they come
 * (the chunked-encoding size lines included, which substring checks do not mind). Resolves once
 * the status line says 200.
 */
export function openRawSse(url: string, headers: Record<string, string>, handlers: Pick<SseHandlers, 'onChunk' | 'onClose'>): Promise<SseStream> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    let closed = false;
    let answered = false;
    const socket = net.connect({ host: target.hostname, port: Number(target.port), noDelay: true });
    const head = Object.entries({ host: target.host, accept: 'text/event-stream', ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.on('connect', () => socket.write(`GET ${target.pathname}${target.search} HTTP/1.1\r\n${head}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      const at = performance.now();
      if (!answered) {
        answered = true;
        if (!chunk.subarray(0, 16).toString('latin1').startsWith('HTTP/1.1 200')) {
          socket.destroy();
          reject(new Error(`stream ${url} answered ${chunk.subarray(0, 12).toString('latin1')}`));
          return;
        }
        resolve({
          close: () => {
            closed = true;
            socket.destroy();
          },
          get closed() {
            return closed;
          },
        });
      }
      handlers.onChunk?.(chunk, at);
    });
    socket.on('close', () => {
      closed = true;
      if (!answered) reject(new Error(`stream ${url} closed before answering`));
      handlers.onClose?.();
    });
    socket.on('error', () => {});
  });
}
