import type { ServerResponse } from 'node:http';
import type { LiveFrame } from './liveFrames.ts';

/**
 * One browser's stream. Frame ids carry the stream cursor — the highest notification id this
 * connection has carried — so a reconnect with Last-Event-ID set to any frame's id (of any type)
 * tells the server exactly which notifications to replay from the inbox.
 */
export class SseConnection {
  /** Highest notification id carried so far. */
  cursor: bigint;
  /** Notifications up to this id were replayed on resume; a live copy of one of them is not sent again. */
  replayedUpTo = 0n;
  dropped = 0;
  private seq = 0;
  private readonly backlog: string[] = [];
  private closed = false;

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

  /** Writes a frame, or queues it while the socket is backed up; past the buffer limit the frame is dropped. */
  send(frame: LiveFrame): boolean {
    if (frame.type === 'notification') {
      const id = BigInt(frame.data.id);
      if (id > this.cursor) this.cursor = id;
    }
    const id = frame.type === 'notification' ? frame.data.id : `${this.cursor}.${++this.seq}`;
    return this.write(`id: ${id}\nevent: ${frame.type}\ndata: ${JSON.stringify(frame.data)}\n\n`);
  }

  heartbeat(): void {
    // Not while the stream is still opening: a write before writeHead would send default headers.
    if (this.res.headersSent && this.backlog.length === 0 && !this.res.writableNeedDrain) this.res.write(': heartbeat\n\n');
  }

  /** Ends the stream asking the browser to come back soon (to another instance, when this one is leaving). */
  end(retryMs: number): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end(`retry: ${retryMs}\n\n`);
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  private write(chunk: string): boolean {
    if (this.isClosed) return false;
    if (this.backlog.length > 0 || this.res.writableNeedDrain) {
      if (this.backlog.length >= this.bufferLimit) {
        this.dropped++;
        this.onDrop(this);
        return false;
      }
      this.backlog.push(chunk);
      return true;
    }
    this.res.write(chunk);
    return true;
  }

  private flushBacklog(): void {
    while (this.backlog.length > 0 && !this.res.writableNeedDrain && !this.isClosed) {
      this.res.write(this.backlog.shift()!);
    }
  }
}

/** Parses a Last-Event-ID (`<cursor>` or `<cursor>.<seq>`); anything else means "no resume point". */
export function parseStreamCursor(lastEventId: string | undefined): bigint | null {
  const match = /^(\d{1,19})(?:\.\d+)?$/.exec(lastEventId?.trim() ?? '');
  return match ? BigInt(match[1]!) : null;
}
