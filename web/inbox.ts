import type { Counts, InboxFilter, Notification } from './api.ts';

export const DEFAULT_FILTER: InboxFilter = { view: 'inbox', unreadOnly: false, type: '' };

const byNewest = (a: Notification, b: Notification) => {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x === y ? 0 : x > y ? -1 : 1;
};

type State = Pick<Notification, 'seenAt' | 'readAt' | 'archivedAt'>;

/**
 * The changes a person can make, as SPEC §5.1 defines them: each only moves a state forward,
 * and reading marks seen too.
 */
const TRANSITIONS = {
  seen: (n: State, at: string): Partial<State> => (n.seenAt ? {} : { seenAt: at }),
  read: (n: State, at: string): Partial<State> => (n.readAt ? {} : { readAt: at, seenAt: n.seenAt ?? at }),
  archive: (n: State, at: string): Partial<State> => (n.archivedAt ? {} : { archivedAt: at }),
};

export type Transition = keyof typeof TRANSITIONS;

/** Which rows a change takes: these ids, every one, or every read one. */
export type Selection = string[] | 'all' | 'all read';

/** What a change did to the rows the page knows: each row before and after, for the counts and for an undo. */
export type Applied = { before: Notification[]; after: Notification[] };

/** What these rows add to the counts (archived rows are in none). */
function countsOf(rows: Notification[]): Counts {
  const inInbox = rows.filter((n) => !n.archivedAt);
  return { unread: inInbox.filter((n) => !n.readAt).length, unseen: inInbox.filter((n) => !n.seenAt).length };
}

/** How the counts move from `before` to `after`. */
export function countsDelta({ before, after }: Applied): Counts {
  const was = countsOf(before);
  const is = countsOf(after);
  return { unread: is.unread - was.unread, unseen: is.unseen - was.unseen };
}

/**
 * What the panel shows: the notifications of the current tab and filter, newest first, with no
 * id twice however they arrived (a page, a live frame, a replay after reconnecting), and each in
 * the newest state the page has heard of.
 */
export class Inbox {
  /** Every notification this page has had, in the newest state it knows of: from pages, frames and the person's own changes. */
  private readonly known = new Map<string, Notification>();
  /**
   * States announced for rows the page had not loaded yet: a page fetched before the frame must
   * not bring them back as they were.
   */
  private readonly announced = new Map<string, Partial<State>>();
  /** The ids the list shows. */
  private readonly shown = new Set<string>();
  private sorted: Notification[] | null = null;

  nextCursor: string | null = null;
  /** The first page has arrived (before that, "empty" would be a lie). */
  loaded = false;
  filter: InboxFilter = DEFAULT_FILTER;
  /** Every type seen so far, for the type filter. */
  readonly types = new Set<string>();
  /**
   * Bumped whenever the list starts over (another tab or filter, another user): a page
   * requested before that must not land in the new list.
   */
  generation = 0;

  /** The listed notifications, newest first. */
  get items(): Notification[] {
    this.sorted ??= [...this.shown].map((id) => this.known.get(id)!).sort(byNewest);
    return this.sorted;
  }

  /** Starts the list over for `filter`; `forget` also drops what the page knew (another person signed in). */
  reset(filter: InboxFilter = this.filter, { forget = false } = {}): void {
    if (forget) {
      this.known.clear();
      this.announced.clear();
      this.types.clear();
    }
    this.shown.clear();
    this.sorted = null;
    this.nextCursor = null;
    this.loaded = false;
    this.filter = filter;
    this.generation++;
  }

  /** Whether the current tab and filter list `n`. */
  matches(n: Notification): boolean {
    if (this.filter.type && n.type !== this.filter.type) return false;
    if (this.filter.view === 'archived') return n.archivedAt !== null;
    return n.archivedAt === null && !(this.filter.unreadOnly && n.readAt);
  }

  /** Merges a page of the current list. A row changed meanwhile (archived, read in the Unread view) stays out. */
  addPage(items: Notification[], nextCursor: string | null): void {
    this.nextCursor = nextCursor;
    this.loaded = true;
    this.addNewest(items);
  }

  /** Merges the newest rows of the current list, fetched again for rows that joined it elsewhere; the cursor stays. */
  addNewest(items: Notification[]): void {
    for (const item of items) {
      const n = this.learn(item);
      if (this.matches(n)) this.show(n.id);
    }
  }

  /** A live notification: listed if the list wants it, updated in place if already listed. Returns true when newly listed. */
  addLive(item: Notification): boolean {
    const n = this.learn(item);
    if (this.shown.has(n.id)) return false;
    if (!this.matches(n)) return false;
    this.show(n.id);
    return true;
  }

  get(id: string): Notification | undefined {
    return this.known.get(id);
  }

  /**
   * Applies a change to the rows the page knows (listed or not) and remembers it for the ones it
   * does not know yet. Archived rows leave the inbox tab and join the archived tab; everything
   * read in the Unread view leaves it empty (all caught up; the server would send none of the
   * older pages either).
   */
  apply(transition: Transition, selection: Selection, at = new Date().toISOString()): Applied {
    const change = TRANSITIONS[transition];
    const targets =
      selection === 'all' ? [...this.known.values()] : selection === 'all read' ? [...this.known.values()].filter((n) => n.readAt && !n.archivedAt) : selection.map((id) => this.known.get(id));
    const applied: Applied = { before: [], after: [] };
    targets.forEach((n, i) => {
      if (!n) {
        const id = (selection as string[])[i]!;
        const pending = this.announced.get(id) ?? { seenAt: null, readAt: null, archivedAt: null };
        this.announced.set(id, { ...pending, ...change({ seenAt: null, readAt: null, archivedAt: null, ...pending }, at) });
        return;
      }
      const next = { ...n, ...change(n, at) };
      if (next.seenAt === n.seenAt && next.readAt === n.readAt && next.archivedAt === n.archivedAt) return;
      this.known.set(n.id, next);
      applied.before.push(n);
      applied.after.push(next);
      if (transition === 'archive') {
        if (this.filter.view === 'inbox') this.shown.delete(n.id);
        else if (this.matches(next)) this.shown.add(n.id);
      }
    });
    if (transition === 'read' && selection === 'all' && this.filter.view === 'inbox' && this.filter.unreadOnly) {
      this.shown.clear();
      this.nextCursor = null;
    }
    this.sorted = null;
    return applied;
  }

  /** Puts rows back as they were before a change that failed. */
  restore(rows: Notification[]): void {
    for (const n of rows) {
      this.known.set(n.id, n);
      if (this.matches(n)) this.shown.add(n.id);
      else this.shown.delete(n.id);
    }
    this.sorted = null;
  }

  /** Listed rows that count as unseen: what the person has on screen when the panel is open. */
  unseenShown(): Notification[] {
    return this.items.filter((n) => !n.seenAt && !n.archivedAt);
  }

  /** Ids the page has never loaded, among `ids`. */
  unknown(ids: string[]): string[] {
    return ids.filter((id) => !this.known.has(id));
  }

  /** Keeps the newest state of a row: states only move forward, so a page fetched before a change cannot undo it. */
  private learn(item: Notification): Notification {
    this.types.add(item.type);
    const was: Partial<State> = this.known.get(item.id) ?? this.announced.get(item.id) ?? {};
    this.announced.delete(item.id);
    const n = { ...item, seenAt: item.seenAt ?? was.seenAt ?? null, readAt: item.readAt ?? was.readAt ?? null, archivedAt: item.archivedAt ?? was.archivedAt ?? null };
    this.known.set(n.id, n);
    this.sorted = null;
    return n;
  }

  private show(id: string): void {
    this.shown.add(id);
    this.sorted = null;
  }
}
