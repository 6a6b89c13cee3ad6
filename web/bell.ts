/// <reference lib="dom" />
/**
 * The bell page: a signed-in person's badge of new (unseen) notifications, their inbox and
 * archive, and live updates. Served by Herald at `/` (src/http/routes/page.ts bundles this file
 * with esbuild at start).
 */
import {
  ApiError,
  archive,
  archiveAllRead,
  listNotifications,
  markAllRead,
  markRead,
  markSeen,
  summary,
  type Boot,
  type Counts,
  type InboxFilter,
  type InboxView,
  type SessionUser,
} from './api.ts';
import { startDemo } from './demo.ts';
import { detectPush, enablePush, type PushState } from './desktopPush.ts';
import { initials } from './format.ts';
import { countsDelta, DEFAULT_FILTER, Inbox, type Selection, type Transition } from './inbox.ts';
import { openLiveStream, type LiveFrame } from './liveStream.ts';
import { pageElements, refreshTimes, renderCounts, renderList, renderStatus, renderTypeOptions, ringBell } from './render.ts';

const els = pageElements();
const boot = JSON.parse(document.getElementById('boot')?.textContent ?? '{}') as Partial<Boot>;

const inbox = new Inbox();
let counts: Counts = { unread: 0, unseen: 0 };
/** Bumped by every count frame: a change that hears none after it settles the counts from the summary. */
let countFrames = 0;
let user: SessionUser | null = null;
/** Bumped at every sign-in and sign-out, so an answer meant for the previous person changes nothing. */
let session = 0;
let stream: { close(): void } | null = null;
let loadingGeneration: number | null = null;
let loadFailed = false;
let pushKey: string | null = null;
let fallbackTimer: number | undefined;
/** Rows that arrived live since the last render, to highlight once. */
const fresh = new Set<string>();

/** How long a change waits for the count frame that follows it before asking for the summary. */
const COUNT_FRAME_WAIT_MS = 1_500;
/**
 * Rows that arrive while the panel is open are marked seen this much later, in one request for
 * a burst, and after the count frame that came with them (else that count, which still has them
 * unseen, would briefly undo the cleared badge).
 */
const SEEN_DELAY_MS = 150;
let seenTimer: number | undefined;

// ---- rendering ------------------------------------------------------------------------------

function emptyText({ view, unreadOnly, type }: InboxFilter): string {
  if (view === 'archived') return type ? 'Nothing archived of this type.' : 'Nothing archived yet.';
  return unreadOnly || type ? 'Nothing here with these filters.' : "You're all caught up.";
}

function render(): void {
  // A row that leaves the list (archived here or in another tab) hands its focus to the row now in its place.
  const focusedRow = document.activeElement?.closest<HTMLLIElement>('#list > li');
  const focusedAt = focusedRow ? [...els.list.children].indexOf(focusedRow) : -1;
  renderList(els.list, inbox.items, fresh);
  fresh.clear();
  if (focusedRow && !focusedRow.isConnected) {
    const next = els.list.children[Math.min(focusedAt, els.list.children.length - 1)];
    (next?.querySelector<HTMLElement>('.item-main') ?? els.panel).focus({ preventScroll: true });
  }

  const { view, unreadOnly, type } = inbox.filter;
  renderTypeOptions(els.typeFilter, inbox.types, type);
  const loading = loadingGeneration === inbox.generation;
  els.loading.hidden = !loading;
  els.listError.hidden = !loadFailed || loading;
  els.empty.hidden = !(inbox.loaded && !loading && !loadFailed && inbox.items.length === 0);
  els.emptyText.textContent = emptyText(inbox.filter);
  els.markAll.disabled = counts.unread === 0;
  els.archiveRead.hidden = view !== 'inbox';
  els.readFilter.hidden = view !== 'inbox';
  els.list.setAttribute('aria-label', view === 'archived' ? 'Archived notifications' : 'Notifications');
  for (const tab of els.tabs) {
    const selected = tab.dataset.view === view;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected) els.tabPanel.setAttribute('aria-labelledby', tab.id);
  }
  for (const button of els.filterButtons) {
    button.setAttribute('aria-pressed', String((button.dataset.filter === 'unread') === unreadOnly));
  }
}

function setCounts(next: Counts): void {
  counts = { unread: Math.max(0, next.unread), unseen: Math.max(0, next.unseen) };
  renderCounts(els, counts);
}

const moveCounts = (delta: Counts) => setCounts({ unread: counts.unread + delta.unread, unseen: counts.unseen + delta.unseen });

let toastTimer: number | undefined;
function toast(message: string, tone: 'info' | 'error' = 'info'): void {
  els.toast.textContent = message;
  els.toast.dataset.tone = tone;
  els.toast.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (els.toast.hidden = true), 4_000);
}

function announce(message: string): void {
  // Clearing first makes screen readers read a repeated message again.
  els.announcer.textContent = '';
  window.setTimeout(() => (els.announcer.textContent = message), 50);
}

// ---- inbox ----------------------------------------------------------------------------------

async function loadPage(): Promise<void> {
  const generation = inbox.generation;
  if (!user || loadingGeneration === generation || (inbox.loaded && !inbox.nextCursor)) return;
  loadingGeneration = generation;
  loadFailed = false;
  render();
  try {
    const page = await listNotifications(inbox.filter, inbox.loaded ? inbox.nextCursor : null);
    if (generation !== inbox.generation) return;
    inbox.addPage(page.items, page.nextCursor);
  } catch (err) {
    if (generation !== inbox.generation) return;
    if (err instanceof ApiError && err.status === 401) return signedOut(true);
    loadFailed = true;
  } finally {
    if (loadingGeneration === generation) loadingGeneration = null;
  }
  render();
  markShownSeen();
  // The observer only reports changes: if the sentinel is still in view, ask it to look again.
  observer.unobserve(els.sentinel);
  observer.observe(els.sentinel);
}

const observer = new IntersectionObserver(
  (entries) => {
    if (entries.some((e) => e.isIntersecting) && inbox.loaded && !loadFailed) void loadPage();
  },
  { root: els.scroll, rootMargin: '0px 0px 160px 0px' },
);
observer.observe(els.sentinel);

function startOver(filter: InboxFilter = inbox.filter): void {
  inbox.reset(filter);
  loadFailed = false;
  render();
  void loadPage();
}

/**
 * Rows archived in another tab join the open Archived tab. The ones this page never loaded come
 * with the newest archived rows, fetched again (as many as are listed, so that an older one
 * among them lands in its place too).
 */
async function showArchivedElsewhere(ids: string[]): Promise<void> {
  const { generation } = inbox;
  if (inbox.filter.view !== 'archived' || !inbox.loaded || inbox.unknown(ids).length === 0) return;
  try {
    const page = await listNotifications(inbox.filter, null, Math.min(100, inbox.items.length + ids.length));
    if (generation !== inbox.generation) return;
    inbox.addNewest(page.items);
    render();
  } catch {
    // They come with the next page, or the next time the tab opens.
  }
}

function onFrame(frame: LiveFrame): void {
  switch (frame.type) {
    case 'notification': {
      const known = inbox.get(frame.data.id) !== undefined;
      if (inbox.addLive(frame.data)) fresh.add(frame.data.id);
      if (!known && !frame.data.seenAt && !frame.data.archivedAt) {
        announce(`New notification: ${frame.data.title}`);
        ringBell(els);
      }
      break;
    }
    case 'notification.read':
      inbox.apply('read', [frame.data.id]);
      break;
    case 'notifications.read_all':
      inbox.apply('read', 'all');
      break;
    case 'notifications.seen':
      inbox.apply('seen', frame.data.ids);
      break;
    case 'notification.archived':
      inbox.apply('archive', frame.data.ids);
      void showArchivedElsewhere(frame.data.ids);
      break;
    case 'unread_count':
      countFrames++;
      setCounts(frame.data);
      break;
  }
  render();
  if (frame.type === 'notification' && seenTimer === undefined) {
    seenTimer = window.setTimeout(() => {
      seenTimer = undefined;
      markShownSeen();
    }, SEEN_DELAY_MS);
  }
}

/**
 * Sends a change the page already shows. On failure `undo` puts the page back and a toast says
 * so. The server announces new counts only when a change changed something; when no count frame
 * follows (a row another tab had changed already, a frame lost while the stream reconnected),
 * the summary settles what the page guessed.
 */
async function send<T>(request: () => Promise<T>, undo: () => void, failure: string): Promise<{ value: T } | null> {
  const mine = session;
  const framesBefore = countFrames;
  try {
    return { value: await request() };
  } catch (err) {
    if (mine !== session) return null;
    if (err instanceof ApiError && err.status === 401) {
      signedOut(true);
      return null;
    }
    undo();
    render();
    toast(failure, 'error');
    return null;
  } finally {
    window.setTimeout(() => {
      if (mine !== session || countFrames !== framesBefore) return;
      summary().then((s) => mine === session && setCounts(s), () => {});
    }, COUNT_FRAME_WAIT_MS);
  }
}

/** Applies a change to the rows and the counts at once (optimistically), then sends it. */
function change<T>(transition: Transition, selection: Selection, request: () => Promise<T>, failure: string): Promise<{ value: T } | null> {
  const applied = inbox.apply(transition, selection);
  const delta = countsDelta(applied);
  moveCounts(delta);
  render();
  const undo = () => {
    inbox.restore(applied.before);
    moveCounts({ unread: -delta.unread, unseen: -delta.unseen });
  };
  return send(request, undo, failure);
}

/** The panel is in front of the person: what it lists has been seen (SPEC §5.1), and the badge clears. */
function markShownSeen(): void {
  if (els.panel.hidden || document.visibilityState !== 'visible') return;
  const ids = inbox.unseenShown().map((n) => n.id);
  if (ids.length > 0) void change('seen', ids, () => markSeen(ids), 'Could not mark notifications as seen.');
}

function readRow(id: string): void {
  if (inbox.get(id)?.readAt !== null) return;
  void change('read', [id], () => markRead(id), 'Could not mark that notification as read.');
}

async function archiveRow(id: string): Promise<void> {
  if (await change('archive', [id], () => archive(id), 'Could not archive that notification.')) announce('Notification archived.');
}

async function archiveRead(): Promise<void> {
  els.archiveRead.disabled = true;
  const result = await change('archive', 'all read', archiveAllRead, 'Could not archive the read notifications.');
  els.archiveRead.disabled = false;
  if (!result) return;
  const { updated } = result.value;
  toast(updated === 0 ? 'No read notifications to archive.' : `Archived ${updated} read notification${updated === 1 ? '' : 's'}.`);
}

async function readAll(): Promise<void> {
  const before = counts;
  const applied = inbox.apply('read', 'all');
  setCounts({ unread: 0, unseen: 0 });
  render();
  const undo = () => {
    inbox.restore(applied.before);
    setCounts(before);
    // The Unread view emptied itself: bring back what it listed.
    if (inbox.filter.unreadOnly) startOver();
  };
  if (await send(markAllRead, undo, 'Could not mark everything as read.')) announce('All notifications marked as read.');
}

// ---- panel ----------------------------------------------------------------------------------

function setPanel(open: boolean, { restoreFocus = true } = {}): void {
  if (open === !els.panel.hidden) return;
  els.panel.hidden = !open;
  els.bell.setAttribute('aria-expanded', String(open));
  if (open) {
    els.panel.focus({ preventScroll: true });
    refreshTimes(els.list);
    markShownSeen();
  } else if (restoreFocus) {
    els.bell.focus();
  }
}

function showView(view: InboxView, { focus = false } = {}): void {
  if (view !== inbox.filter.view) startOver({ ...inbox.filter, view });
  if (focus) els.tabs.find((tab) => tab.dataset.view === view)?.focus();
}

els.bell.addEventListener('click', () => setPanel(els.panel.hidden));
els.openInbox.addEventListener('click', (e) => {
  e.stopPropagation();
  setPanel(true);
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !els.panel.hidden) setPanel(false);
});
document.addEventListener('click', (e) => {
  // The path as dispatched: a click may have removed its own target (a row's archive button) by now.
  const path = e.composedPath();
  // The demo bar is exempt: publishing while watching the open panel is the point of the demo.
  if (els.panel.hidden || path.includes(els.bellAnchor) || path.includes(els.demoBar)) return;
  setPanel(false, { restoreFocus: false });
});
// A tab that comes back into view has its open panel in front of the person again.
document.addEventListener('visibilitychange', markShownSeen);
els.list.addEventListener('click', (e) => {
  const target = (e.target as Element).closest<HTMLElement>('.item-main, .item-action, .item-archive');
  const id = target?.dataset.id;
  if (!target || !id) return;
  // A link opens its url by itself (in a new tab); following it, or an action, marks the row read.
  if (target.classList.contains('item-archive')) void archiveRow(id);
  else readRow(id);
});
els.markAll.addEventListener('click', () => void readAll());
els.archiveRead.addEventListener('click', () => void archiveRead());
els.listRetry.addEventListener('click', () => void loadPage());
for (const tab of els.tabs) {
  tab.addEventListener('click', () => showView(tab.dataset.view as InboxView));
  // Arrow keys, Home and End move between the tabs (the WAI-ARIA tabs pattern; selection follows focus).
  tab.addEventListener('keydown', (e) => {
    const at = els.tabs.indexOf(tab);
    const last = els.tabs.length - 1;
    const to = ({ ArrowLeft: at === 0 ? last : at - 1, ArrowRight: at === last ? 0 : at + 1, Home: 0, End: last } as Record<string, number>)[e.key];
    if (to === undefined) return;
    e.preventDefault();
    showView(els.tabs[to]!.dataset.view as InboxView, { focus: true });
  });
}
for (const button of els.filterButtons) {
  button.addEventListener('click', () => startOver({ ...inbox.filter, unreadOnly: button.dataset.filter === 'unread' }));
}
els.typeFilter.addEventListener('change', () => startOver({ ...inbox.filter, type: els.typeFilter.value }));
window.setInterval(() => refreshTimes(els.list), 30_000);

// ---- desktop notifications ------------------------------------------------------------------

const PUSH_TEXT: Record<PushState, string> = {
  unavailable: '',
  available: 'Enable desktop notifications',
  enabled: 'Desktop notifications are on',
  blocked: 'Desktop notifications are blocked in this browser',
};

function setPush(state: PushState): void {
  els.panelFoot.hidden = state === 'unavailable';
  els.pushText.textContent = PUSH_TEXT[state];
  els.push.disabled = state !== 'available';
}

els.push.addEventListener('click', async () => {
  if (!pushKey) return;
  els.push.disabled = true;
  try {
    setPush(await enablePush(pushKey));
  } catch {
    setPush('available');
    toast('Could not turn on desktop notifications.', 'error');
  }
});

// ---- session --------------------------------------------------------------------------------

/** Shows `next`'s inbox: a fresh list, stream and badge (also when a demo sign-in switches people). */
function startSession(next: SessionUser): void {
  stream?.close();
  window.clearTimeout(fallbackTimer);
  user = next;
  session++;
  inbox.reset(DEFAULT_FILTER, { forget: true });
  setCounts({ unread: 0, unseen: 0 });
  setPanel(false, { restoreFocus: false });
  els.signedOut.hidden = true;
  for (const shown of [els.status, els.bellAnchor, els.who, els.welcome]) shown.hidden = false;
  els.avatar.textContent = initials(next.name);
  els.whoName.textContent = next.name;
  els.whoSub.textContent = next.email ?? next.id;
  els.welcomeTenant.textContent = next.tenants.join(', ');
  els.welcomeTitle.textContent = `Welcome back, ${next.name.split(/\s+/)[0]}`;
  render();

  // The list loads once the stream is open, so nothing published in between can be missed:
  // older rows come in the page, newer ones as frames, and the inbox keeps each id once.
  stream = openLiveStream({
    frame: onFrame,
    status: (status) => renderStatus(els, status),
    fresh: () => {
      window.clearTimeout(fallbackTimer);
      startOver();
    },
    refused: () => signedOut(true),
  });
  // If the stream cannot open (a proxy that buffers it, say), show the inbox anyway.
  fallbackTimer = window.setTimeout(() => {
    if (!inbox.loaded) void loadPage();
    summary().then(setCounts, () => {});
  }, 4_000);

  setPush('unavailable');
  void detectPush().then(({ state, publicKey }) => {
    if (user !== next) return;
    pushKey = publicKey;
    setPush(state);
  });
}

function signedOut(expired = false): void {
  stream?.close();
  stream = null;
  user = null;
  session++;
  window.clearTimeout(fallbackTimer);
  setPanel(false, { restoreFocus: false });
  for (const hidden of [els.status, els.bellAnchor, els.who, els.welcome]) hidden.hidden = true;
  els.signedOut.hidden = false;
  if (expired) els.signedOut.querySelector('h1')!.textContent = 'Your session has ended — sign in again';
}

if (boot.demo) {
  void startDemo(els, boot.user ?? null, { startSession, toast });
} else if (boot.user) {
  startSession(boot.user);
} else {
  signedOut();
}
