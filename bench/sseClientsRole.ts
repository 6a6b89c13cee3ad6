import type { StartedRole } from './child.ts';
import { mapLimit, openRawSse, openSse, type SseStream } from './sseClient.ts';

const openStream = process.env.BENCH_SSE_CLIENT === 'http' ? openSse : openRawSse;

/**
 * Not a baseline but a load generator: a share of the SSE scale scenario's streams, held in
 * their own process so reading 10,000 broadcast frames is spread over the machine's cores
 * instead of queueing behind one event loop (which would measure the client, not the server).
 * Arrival times are wall-clock milliseconds (timeOrigin + now), comparable across processes.
 */
export async function startSseClients(_config: unknown, _logger: unknown, send: (m: Record<string, unknown>) => void): Promise<StartedRole> {
  let streams: (SseStream | null)[] = [];
  let state = new Uint8Array(0); // 0 opening, 1 live, 2 closed before its first frame
  let arrivals = new Float64Array(0);
  let marker = Buffer.from('\u0000');
  const wallNow = () => performance.timeOrigin + performance.now();
  const isLive = (i: number) => state[i] === 1 && streams[i] !== null && !streams[i]!.closed;

  async function open(url: string, headers: Record<string, string>[], concurrency: number) {
    const count = headers.length;
    state = new Uint8Array(count);
    arrivals = new Float64Array(count);
    const started = performance.now();
    streams = await mapLimit(headers, concurrency, (h, i) =>
      openStream(url, h, {
        onChunk: (chunk) => {
          if (state[i] === 0 && chunk.includes('unread_count')) state[i] = 1;
          if (arrivals[i] === 0 && chunk.includes(marker)) arrivals[i] = wallNow();
        },
        onClose: () => {
          if (state[i] === 0) state[i] = 2;
        },
      }).catch(() => {
        state[i] = 2;
        return null;
      }),
    );
    // A stream that answered but never sent its first frame is counted broken after a while (see the report: a heartbeat during the open).
    const deadline = Date.now() + 10_000;
    while (state.some((s) => s === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    let live = 0;
    let broken = 0;
    for (let i = 0; i < count; i++) {
      if (isLive(i)) live++;
      else broken++;
    }
    send({ type: 'opened', live, broken, seconds: (performance.now() - started) / 1000 });
  }

  /**
   * Arrival times of the armed marker, one per stream this process was asked to open: -1 for a
   * stream that never got it — still open and late, closed since it opened, or never live. A
   * stream that cannot receive any more is not waited for, but it counts as missing.
   */
  async function collect(timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    const done = () => arrivals.every((a, i) => a > 0 || !isLive(i));
    while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const times = Array.from(arrivals, (a) => (a > 0 ? a : -1));
    let closed = 0;
    let neverLive = 0;
    for (let i = 0; i < arrivals.length; i++) {
      if (arrivals[i]! > 0) continue;
      if (state[i] !== 1) neverLive++;
      else if (!isLive(i)) closed++;
    }
    send({ type: 'arrivals', times, closed, neverLive });
  }

  return {
    async onMessage(message) {
      if (message.type === 'open') await open(String(message.url), message.headers as Record<string, string>[], Number(message.concurrency));
      else if (message.type === 'arm') {
        marker = Buffer.from(String(message.marker));
        arrivals = new Float64Array(state.length);
        send({ type: 'armed' });
      } else if (message.type === 'collect') await collect(Number(message.timeoutMs));
      else if (message.type === 'close') {
        for (const s of streams) s?.close();
        streams = [];
        send({ type: 'closed' });
      }
    },
    async close() {
      for (const s of streams) s?.close();
    },
  };
}
