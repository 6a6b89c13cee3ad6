import type { Counts, Notification } from './api.ts';
import { badgeText, bellLabel, humanize, relativeTime } from './format.ts';
import type { StreamStatus } from './liveStream.ts';
import { createRow, updateRow } from './row.ts';

/** The page's elements, looked up once. */
export function pageElements() {
  const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
    const el = document.getElementById(id);
    if (!el) throw new Error(`bell page: #${id} is missing`);
    return el as T;
  };
  return {
    status: $('status'),
    statusText: $('status-text'),
    bellAnchor: $('bell-anchor'),
    bell: $<HTMLButtonElement>('bell'),
    badge: $('badge'),
    panel: $('panel'),
    markAll: $<HTMLButtonElement>('mark-all'),
    archiveRead: $<HTMLButtonElement>('archive-read'),
    tabs: [...document.querySelectorAll<HTMLButtonElement>('[role="tab"][data-view]')],
    readFilter: $('read-filter'),
    filterButtons: [...document.querySelectorAll<HTMLButtonElement>('[data-filter]')],
    typeFilter: $<HTMLSelectElement>('type-filter'),
    tabPanel: $('tab-panel'),
    scroll: $('panel-scroll'),
    list: $<HTMLUListElement>('list'),
    empty: $('list-empty'),
    emptyText: $('list-empty-text'),
    sentinel: $('sentinel'),
    loading: $('list-loading'),
    listError: $('list-error'),
    listRetry: $<HTMLButtonElement>('list-retry'),
    panelFoot: $('panel-foot'),
    push: $<HTMLButtonElement>('push'),
    pushText: $('push-text'),
    who: $('who'),
    avatar: $('avatar'),
    whoName: $('who-name'),
    whoSub: $('who-sub'),
    demoBar: $('demo-bar'),
    demoUsers: $('demo-users'),
    demoPublish: $<HTMLButtonElement>('demo-publish'),
    signedOut: $('signed-out'),
    signedOutText: $('signed-out-text'),
    welcome: $('welcome'),
    welcomeTenant: $('welcome-tenant'),
    welcomeTitle: $('welcome-title'),
    welcomeText: $('welcome-text'),
    openInbox: $<HTMLButtonElement>('open-inbox'),
    demoSteps: $('demo-steps'),
    toast: $('toast'),
    announcer: $('announcer'),
  };
}

export type PageElements = ReturnType<typeof pageElements>;

/** Brings the list in line with `items`, reusing rows so focus and animations survive. */
export function renderList(list: HTMLUListElement, items: Notification[], fresh: ReadonlySet<string> = new Set()): void {
  const existing = new Map<string, HTMLLIElement>();
  for (const li of list.querySelectorAll<HTMLLIElement>(':scope > li.item')) existing.set(li.dataset.id!, li);
  const rows = items.map((n) => {
    let li = existing.get(n.id);
    if (!li) {
      li = createRow(n);
      if (fresh.has(n.id)) li.classList.add('is-new');
    }
    existing.delete(n.id);
    updateRow(li, n);
    return li;
  });
  for (const stale of existing.values()) stale.remove();
  // Move only rows out of place: re-appending a focused row would drop its focus.
  rows.forEach((li, i) => {
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
}

export function refreshTimes(root: ParentNode): void {
  for (const time of root.querySelectorAll<HTMLTimeElement>('time.item-time')) time.textContent = relativeTime(time.dateTime);
}

/** The badge and the bell's label go by what is new (unseen); the welcome text and "Mark all read" by unread. */
export function renderCounts(els: PageElements, { unread, unseen }: Counts): void {
  els.badge.textContent = badgeText(unseen);
  els.badge.hidden = unseen <= 0;
  els.bell.setAttribute('aria-label', bellLabel(unseen));
  els.markAll.disabled = unread === 0;
  els.welcomeText.textContent =
    unread === 0 ? 'No unread notifications. The bell rings the moment something new arrives.' : `You have ${unread} unread notification${unread === 1 ? '' : 's'}.`;
}

export function ringBell(els: PageElements): void {
  els.bell.classList.remove('ring');
  void els.bell.offsetWidth; // restart the animation
  els.bell.classList.add('ring');
}

const STATUS_TEXT: Record<StreamStatus, string> = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };

export function renderStatus(els: PageElements, status: StreamStatus): void {
  els.status.dataset.state = status;
  els.statusText.textContent = STATUS_TEXT[status];
  els.status.title = status === 'live' ? 'Receiving updates as they happen' : 'Live updates are paused; they resume by themselves';
}

/** Fills the type filter from the types seen, keeping the current choice. */
export function renderTypeOptions(select: HTMLSelectElement, types: Iterable<string>, selected: string): void {
  const sorted = [...new Set([...types, ...(selected ? [selected] : [])])].sort();
  const current = [...select.options].slice(1).map((o) => o.value);
  if (current.join('\n') === sorted.join('\n')) return;
  select.replaceChildren(new Option('All types', ''), ...sorted.map((type) => new Option(humanize(type), type)));
  select.value = selected;
}
