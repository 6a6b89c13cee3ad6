import type { Counts, Notification } from './api.ts';

export type LiveFrame =
  | { type: 'notification'; data: Notification }
  | { type: 'notification.read'; data: { id: string } }
  | { type: 'notifications.read_all'; data: { updated: number } }
  | { type: 'notifications.seen'; data: { ids: string[] } }
  | { type: 'notification.archived'; data: { ids: string[] } }
  | { type: 'unread_count'; data: Counts };

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

export type LiveStreamHandlers = {
  frame(frame: LiveFrame): void;
  status(status: StreamStatus): void;
  /**
   * The stream was opened afresh (first time, or after the browser gave up and a new
   * EventSource was made): there is no resume point, so the caller reloads what it shows.
   */
  fresh(): void;
  /** The server refused the stream (the session ended, most likely). */
  refused(): void;
};

const FRAME_TYPES = ['notification', 'notification.read', 'notifications.read_all', 'notifications.seen', 'notification.archived', 'unread_count'] as const satisfies readonly LiveFrame['type'][];
const MAX_BACKOFF_MS = 30_000;

/**
 * The user's live stream over EventSource with the session cookie. While the browser keeps the
 * EventSource alive it reconnects by itself and sends Last-Event-ID, and the server replays
 * exactly what was missed. Only when the browser gives up (an HTTP error, not a network blip)
 * does this open a new one, with backoff, and ask the caller to reload.
 */
export function openLiveStream(handlers: LiveStreamHandlers): { close(): void } {
  let source: EventSource | null = null;
  let closed = false;
  let failures = 0;
  let retryTimer: number | undefined;

  function connect(): void {
    handlers.status(failures === 0 ? 'connecting' : 'reconnecting');
    const es = new EventSource('/api/v1/events', { withCredentials: true });
    source = es;
    let opened = false;
    es.onopen = () => {
      handlers.status('live');
      if (!opened && source === es) {
        opened = true;
        failures = 0;
        handlers.fresh();
      }
    };
    es.onerror = () => {
      if (closed || source !== es) return;
      if (es.readyState === EventSource.CONNECTING) {
        handlers.status('reconnecting');
        return;
      }
      es.close();
      handlers.status('offline');
      void checkSession().then((signedIn) => {
        if (closed) return;
        if (!signedIn) return handlers.refused();
        failures++;
        const delay = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(failures, 5)) * (0.75 + Math.random() / 2);
        retryTimer = window.setTimeout(connect, delay);
      });
    };
    for (const type of FRAME_TYPES) {
      es.addEventListener(type, (event) => {
        try {
          handlers.frame({ type, data: JSON.parse((event as MessageEvent<string>).data) } as LiveFrame);
        } catch {
          // A frame we cannot read is skipped; the next unread_count puts the badge right again.
        }
      });
    }
  }

  connect();
  return {
    close() {
      closed = true;
      window.clearTimeout(retryTimer);
      source?.close();
      source = null;
    },
  };
}

/** After the stream failed for good: still signed in (retry), or did the session end? */
async function checkSession(): Promise<boolean> {
  try {
    const res = await fetch('/api/v1/notifications/summary', { credentials: 'same-origin' });
    return res.status !== 401;
  } catch {
    return true;
  }
}
