import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { InboxCounts } from '../inbox/inboxCounts.ts';
import type { LiveFrame } from './liveFrames.ts';

const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

/** How soon a browser comes back after an ordinary drop. */
const RECONNECT_MS = 3_000;
/** How soon a browser that fell behind comes back, to be replayed what it missed. */
const OVERFLOW_RECONNECT_MS = 500;

/** The JSON of each frame's data, kept while the frame lives. */
const serialized = new WeakMap<object, string>();

/**
 * A frame's data as JSON, made once however many streams carry the frame: a tenant's event
 * frame is the same object for every stream of the tenant, and at 10,000 streams encoding it
 * for each was ~10,000 JSON.stringify calls per broadcast. Frames are not changed once made.
 */
function dataJson(data: unknown): string {
  // Frames come off Redis unchecked: data that is not an object cannot key a WeakMap (and is cheap to encode).
  if (typeof data !== 'object' || data === null) return JSON.stringify(data);
  let json = serialized.get(data);
  if (json === undefined) {
    json = JSON.stringify(data);
    serialized.set(data, json);
  }
  return json;
}

/**
 * One browser's stream. Frame ids carry the stream cursor — the user's seq up to which this
 * connection has carried every notification, in order (the hub makes sure of the order; see
 * createSseHub) — so a reconnect with Last-Event-ID set to any frame's id (of any type) tells
 * the server exactly which notifications to replay from the inbox.
 *
 * A connection is opening until `begin()` writes its headers, and nothing else writes to the
 * response before that: a heartbeat skips it, and an `end()` (shutdown, the user's stream limit)
 * writes the headers itself. A write before the headers would send implicit ones and make the
 * later `writeHead` throw, killing the stream.
 */
export class SseConnection {
  /** Every notification of the user up to this seq has been carried (or was not this stream's to carry). */
  cursor: bigint;
  dropped = 0;
  private seq = 0;
  /** What this stream knows of its user's counts, per tenant of its own, with the version of each. */
  private readonly counts = new Map<string, { unread: number; unseen: number; version: bigint }>();
  private readonly backlog: string[] = [];
  private begun = false;
  private closed = false;
  /** A frame had to be dropped: nothing more is written, and the stream ends once its backlog is out. */
  private overflowed = false;
  private corked = false;

  /** Names this stream among the user's streams on every instance (streamLimit.ts). */
  readonly id = randomUUID();

  constructor(
    readonly res: ServerResponse,
    readonly userId: string,
    readonly tenantIds: ReadonlySet<string>,
    startCursor: bigint,
    private readonly bufferLimit: number,
    private readonly onDrop: (connection: SseConnection) => void,
  ) {
    this.cursor = startCursor;
    res.on('drain', () => this.flushBacklog());
  }

  /** Sends the headers: from here on, frames and heartbeats go out. */
  begin(): void {
    if (this.begun || this.isClosed) return;
    this.begun = true;
    this.res.writeHead(200, SSE_HEADERS);
    this.res.write(`retry: ${RECONNECT_MS}\n\n`);
  }

  /**
   * Writes a frame, or queues it while the socket is backed up; past the buffer limit the frame
   * is dropped and the stream ends once its queue is out (see write). A notification frame is the next in cursor order (the hub's job): it moves the
   * cursor to its own seq, which is its id.
   */
  send(frame: LiveFrame): boolean {
    if (frame.type === 'notification') this.cursor = BigInt(frame.cursor);
    const id = frame.type === 'notification' ? frame.cursor : `${this.cursor}.${++this.seq}`;
    return this.write(`id: ${id}\nevent: ${frame.type}\ndata: ${dataJson(frame.data)}\n\n`);
  }

  /**
   * Takes the newer of what it knows and `counts` for each of its tenants, and sends the sum
   * when that changed. Count frames come from whichever process made the change, so two can
   * cross on the way; the versions keep a late, older one from undoing a newer one. `always`
   * sends it even unchanged (the first count of a stream).
   */
  sendCounts(counts: InboxCounts, always = false): void {
    let changed = false;
    for (const [tenantId, count] of Object.entries(counts)) {
      if (!this.tenantIds.has(tenantId)) continue;
      const version = BigInt(count.version);
      const known = this.counts.get(tenantId);
      if (known && known.version >= version) continue;
      changed ||= known?.unread !== count.unread || known?.unseen !== count.unseen;
      this.counts.set(tenantId, { unread: count.unread, unseen: count.unseen, version });
    }
    if (changed || always) this.send({ type: 'unread_count', data: this.totals() });
  }

  private totals(): { unread: number; unseen: number } {
    const totals = { unread: 0, unseen: 0 };
    for (const { unread, unseen } of this.counts.values()) {
      totals.unread += unread;
      totals.unseen += unseen;
    }
    return totals;
  }

  heartbeat(): void {
    if (this.begun && !this.overflowed && this.backlog.length === 0 && !this.res.writableNeedDrain && !this.isClosed) this.res.write(': heartbeat\n\n');
  }

  /** Ends the stream asking the browser to come back after `retryMs` (to another instance, when this one is leaving). */
  end(retryMs: number): void {
    if (this.isClosed) return;
    this.closed = true;
    // An EventSource gives up for good on anything but a 200 event stream; this one reconnects.
    if (!this.begun) this.res.writeHead(200, SSE_HEADERS);
    this.res.end(`retry: ${retryMs}\n\n`);
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  private write(chunk: string): boolean {
    if (!this.begun || this.isClosed) return false;
    if (this.overflowed) return this.drop();
    if (this.backlog.length > 0 || this.res.writableNeedDrain) {
      if (this.backlog.length >= this.bufferLimit) {
        // The cursor has passed a frame the client will never get, and every later id would say
        // it was carried. So the stream stops here: what is queued still goes out, then it ends,
        // and the browser resumes from the last id it really has — the replay carries the rest.
        this.overflowed = true;
        return this.drop();
      }
      this.backlog.push(chunk);
      return true;
    }
    // Frames written in one tick (a row, its count, the tenant's event frame) leave in one
    // syscall: writes are corked until the tick's work is done.
    if (!this.corked) {
      this.corked = true;
      this.res.cork();
      process.nextTick(() => {
        this.corked = false;
        this.res.uncork();
      });
    }
    this.res.write(chunk);
    return true;
  }

  private drop(): false {
    this.dropped++;
    this.onDrop(this);
    return false;
  }

  private flushBacklog(): void {
    while (this.backlog.length > 0 && !this.res.writableNeedDrain && !this.isClosed) {
      this.res.write(this.backlog.shift()!);
    }
    if (this.overflowed && this.backlog.length === 0) this.end(OVERFLOW_RECONNECT_MS);
  }
}

/** Parses a Last-Event-ID (`<cursor>` or `<cursor>.<seq>`); anything else means "no resume point". */
export function parseStreamCursor(lastEventId: string | undefined): bigint | null {
  const match = /^(\d{1,19})(?:\.\d+)?$/.exec(lastEventId?.trim() ?? '');
  return match ? BigInt(match[1]!) : null;
}
