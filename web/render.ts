import type { Notification } from './api.ts';
import { badgeText, bellLabel, fullDate, humanize, relativeTime, safeHref } from './format.ts';

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
    filterButtons: [...document.querySelectorAll<HTMLButtonElement>('[data-filter]')],
    typeFilter: $<HTMLSelectElement>('type-filter'),
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

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const SEVERITIES = new Set(['info', 'low', 'medium', 'high', 'critical', 'urgent']);

/** One inbox row. Text goes in as text, never as HTML: titles and bodies come from event data. */
function createItem(n: Notification): HTMLLIElement {
  const li = el('li', 'item');
  li.dataset.id = n.id;
  const href = safeHref(n.url);
  const main = href ? el('a', 'item-main') : el('button', 'item-main');
  if (main instanceof HTMLAnchorElement) {
    main.href = href!;
    main.target = '_blank';
    main.rel = 'noopener noreferrer';
  } else {
    main.type = 'button';
  }
  main.dataset.id = n.id;

  const dot = el('span', 'item-dot');
  dot.setAttribute('aria-hidden', 'true');
  const state = el('span', 'visually-hidden item-state');
  const text = el('span', 'item-text');
  const title = el('span', 'item-title', n.title);
  text.append(title);
  if (n.body) text.append(el('span', 'item-body', n.body));

  const meta = el('span', 'item-meta');
  const severity = n.severity && SEVERITIES.has(n.severity) ? n.severity : null;
  if (severity) meta.append(el('span', `pill pill-${severity}`, severity));
  meta.append(el('span', 'item-type', humanize(n.type)));
  const time = el('time', 'item-time');
  time.dateTime = n.createdAt;
  time.title = fullDate.format(new Date(n.createdAt));
  time.textContent = relativeTime(n.createdAt);
  meta.append(time);
  if (href) {
    const external = el('span', 'item-external');
    external.setAttribute('aria-hidden', 'true');
    external.textContent = '↗';
    meta.append(external, el('span', 'visually-hidden', '(opens in a new tab)'));
  }
  text.append(meta);
  main.append(dot, state, text);
  li.append(main);
  return li;
}

function updateItem(li: HTMLLIElement, n: Notification): void {
  const unread = !n.readAt;
  li.classList.toggle('is-unread', unread);
  li.querySelector('.item-state')!.textContent = unread ? 'Unread: ' : '';
}

/** Brings the list in line with `items`, reusing rows so focus and animations survive. */
export function renderList(list: HTMLUListElement, items: Notification[], fresh: ReadonlySet<string> = new Set()): void {
  const existing = new Map<string, HTMLLIElement>();
  for (const li of list.querySelectorAll<HTMLLIElement>(':scope > li.item')) existing.set(li.dataset.id!, li);
  const rows = items.map((n) => {
    let li = existing.get(n.id);
    if (!li) {
      li = createItem(n);
      if (fresh.has(n.id)) li.classList.add('is-new');
    }
    existing.delete(n.id);
    updateItem(li, n);
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

export function renderBadge(els: PageElements, unread: number): void {
  els.badge.textContent = badgeText(unread);
  els.badge.hidden = unread <= 0;
  els.bell.setAttribute('aria-label', bellLabel(unread));
  els.bell.classList.toggle('has-unread', unread > 0);
}

/** Fills the type filter from the types seen, keeping the current choice. */
export function renderTypeOptions(select: HTMLSelectElement, types: Iterable<string>, selected: string): void {
  const sorted = [...new Set([...types, ...(selected ? [selected] : [])])].sort();
  const current = [...select.options].slice(1).map((o) => o.value);
  if (current.join('\n') === sorted.join('\n')) return;
  select.replaceChildren(new Option('All types', ''), ...sorted.map((type) => new Option(humanize(type), type)));
  select.value = selected;
}
