import type { Notification } from './api.ts';
import { fullDate, humanize, initials, paletteIndex, relativeTime, safeHref } from './format.ts';

/**
 * One inbox row. Text goes in as text, never as HTML, and links only as safe hrefs: titles,
 * bodies, names and actions all come from event data.
 *
 *   li.item
 *     a|button.item-main   avatar, priority, title, body, meta: reading the row marks it read
 *     div.item-actions     the event's action links (they mark it read too)
 *     button.item-archive  not on archived rows
 */

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

const ICONS = {
  archive: ['M3 5a1 1 0 0 1 1-1h16a1 1 0 0 1 1 1v3H3z', 'M5 8v10a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8', 'M10 12h4'],
  bell: ['M12 3a6 6 0 0 0-6 6v3.6l-1.6 2.7A1 1 0 0 0 5.3 17h13.4a1 1 0 0 0 .9-1.7L18 12.6V9a6 6 0 0 0-6-6z', 'M9.5 19a2.5 2.5 0 0 0 5 0'],
  high: ['M12 19V6', 'M6 11l6-6 6 6'],
  urgent: ['M12 4 2.5 20h19z', 'M12 10v4.5', 'M12 17.2v.1'],
};

/** A decorative stroke icon (its meaning is always said in text too). */
export function icon(name: keyof typeof ICONS, className = 'icon'): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', className);
  for (const d of ICONS[name]) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

const SEVERITIES = new Set(['info', 'low', 'medium', 'high', 'critical', 'urgent']);
const PRIORITY_TEXT: Record<string, string> = { high: 'High priority', urgent: 'Urgent' };

/** The actor's initials, or a neutral icon when no person did it. Hidden from screen readers: the meta line names the actor. */
function avatar(actor: Notification['actor']): HTMLElement {
  const face = actor ? el('span', `item-avatar tone-${paletteIndex(actor.id)}`, initials(actor.name)) : el('span', 'item-avatar is-system');
  face.setAttribute('aria-hidden', 'true');
  if (actor) face.title = actor.name;
  else face.append(icon('bell'));
  return face;
}

/** Opens in a new tab without handing it this page (`rel=noopener`), and says so to a screen reader. */
function linkOut(a: HTMLAnchorElement, href: string): void {
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
}

const newTabNote = () => el('span', 'visually-hidden', ' (opens in a new tab)');

function actionLinks(n: Notification): HTMLElement | null {
  const links = n.actions.flatMap((action, i) => {
    const href = safeHref(action.url);
    if (!href) return [];
    const a = el('a', i === 0 ? 'item-action is-primary' : 'item-action', action.label);
    linkOut(a, href);
    a.dataset.id = n.id;
    a.append(newTabNote());
    return [a];
  });
  if (links.length === 0) return null;
  const bar = el('div', 'item-actions');
  bar.append(...links);
  return bar;
}

export function createRow(n: Notification): HTMLLIElement {
  const li = el('li', 'item');
  li.dataset.id = n.id;
  const href = safeHref(n.url);
  const main = href ? el('a', 'item-main') : el('button', 'item-main');
  if (main instanceof HTMLAnchorElement) linkOut(main, href!);
  else main.type = 'button';
  main.dataset.id = n.id;

  const dot = el('span', 'item-dot');
  dot.setAttribute('aria-hidden', 'true');
  const text = el('span', 'item-text');
  const priority = PRIORITY_TEXT[n.priority];
  if (priority) {
    li.dataset.priority = n.priority;
    const marker = el('span', `item-priority priority-${n.priority}`);
    marker.append(icon(n.priority === 'urgent' ? 'urgent' : 'high'), priority);
    text.append(marker);
  }
  text.append(el('span', 'item-title', n.title));
  if (n.body) text.append(el('span', 'item-body', n.body));

  const meta = el('span', 'item-meta');
  const severity = n.severity && SEVERITIES.has(n.severity) ? n.severity : null;
  if (severity) meta.append(el('span', `pill pill-${severity}`, severity));
  if (n.actor) meta.append(el('span', 'item-actor', n.actor.name));
  meta.append(el('span', 'item-type', humanize(n.type)));
  const time = el('time', 'item-time');
  time.dateTime = n.createdAt;
  time.title = fullDate.format(new Date(n.createdAt));
  time.textContent = relativeTime(n.createdAt);
  meta.append(time);
  if (href) {
    const external = el('span', 'item-external', '↗');
    external.setAttribute('aria-hidden', 'true');
    meta.append(external, newTabNote());
  }
  text.append(meta);
  main.append(dot, avatar(n.actor), el('span', 'visually-hidden item-state'), text);
  li.append(main);
  const actions = actionLinks(n);
  if (actions) {
    li.classList.add('has-actions');
    li.append(actions);
  }
  return li;
}

/** Brings a row's states up to date: bold while unread, an archive button until archived. */
export function updateRow(li: HTMLLIElement, n: Notification): void {
  const unread = !n.readAt;
  li.classList.toggle('is-unread', unread);
  li.querySelector('.item-state')!.textContent = unread ? 'Unread: ' : '';
  const archiveButton = li.querySelector<HTMLButtonElement>(':scope > .item-archive');
  li.classList.toggle('is-archived', n.archivedAt !== null);
  if (n.archivedAt) {
    archiveButton?.remove();
  } else if (!archiveButton) {
    const button = el('button', 'item-archive');
    button.type = 'button';
    button.dataset.id = n.id;
    button.title = 'Archive';
    button.setAttribute('aria-label', `Archive: ${n.title}`);
    button.append(icon('archive'));
    li.append(button);
  }
}
