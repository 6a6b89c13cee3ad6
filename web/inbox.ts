import type { InboxFilter, Notification } from './api.ts';

const byNewest = (a: Notification, b: Notification) => {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x === y ? 0 : x > y ? -1 : 1;
};

/**
 * What the panel shows: the loaded notifications, newest first, with no id twice however they
 * arrived (a page, a live frame, a replay after reconnecting).
 */
export class Inbox {
  items: Notification[] = [];
  nextCursor: string | null = null;
  /** The first page has arrived (before that, "empty" would be a lie). */
  loaded = false;
  filter: InboxFilter = { unreadOnly: false, type: '' };
  /** Every type seen so far, for the type filter. */
  readonly types = new Set<string>();
  /**
   * Bumped whenever the list starts over (a filter change, another user): a page requested
   * before that must not land in the new list.
   */
  generation = 0;

  reset(filter: InboxFilter = this.filter): void {
    this.items = [];
    this.nextCursor = null;
    this.loaded = false;
    this.filter = filter;
    this.generation++;
  }

  matches(n: Notification): boolean {
    if (this.filter.unreadOnly && n.readAt) return false;
    return !this.filter.type || n.type === this.filter.type;
  }

  /** Merges a page; live items already listed are kept once, in id order. */
  addPage(items: Notification[], nextCursor: string | null): void {
    for (const n of items) this.types.add(n.type);
    this.nextCursor = nextCursor;
    this.loaded = true;
    this.merge(items);
  }

  /** A live notification: listed if the filter wants it, updated in place if already listed. Returns true when new. */
  addLive(n: Notification): boolean {
    this.types.add(n.type);
    const known = this.items.some((item) => item.id === n.id);
    if (!this.matches(n) && !known) return false;
    this.merge([n]);
    return !known;
  }

  get(id: string): Notification | undefined {
    return this.items.find((n) => n.id === id);
  }

  markRead(id: string, at = new Date().toISOString()): boolean {
    const item = this.get(id);
    if (!item || item.readAt) return false;
    item.readAt = at;
    return true;
  }

  markUnread(id: string): void {
    const item = this.get(id);
    if (item) item.readAt = null;
  }

  /**
   * Everything is read now. In the Unread view the list empties (all caught up), but only when
   * no older unread page is still to come — the server would no longer send those rows anyway.
   */
  markAllRead(at = new Date().toISOString()): void {
    for (const item of this.items) item.readAt ??= at;
    if (this.filter.unreadOnly) {
      this.items = [];
      this.nextCursor = null;
    }
  }

  private merge(incoming: Notification[]): void {
    const byId = new Map(this.items.map((n) => [n.id, n]));
    // Read never turns back into unread: a page fetched before a read frame must not undo it.
    for (const n of incoming) byId.set(n.id, { ...n, readAt: n.readAt ?? byId.get(n.id)?.readAt ?? null });
    this.items = [...byId.values()].sort(byNewest);
  }
}
