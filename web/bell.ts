/// <reference lib="dom" />
/**
 * The bell page: a signed-in person's unread badge, inbox panel and live updates. Served by
 * Herald at `/` (src/http/routes/page.ts bundles this file with esbuild at start).
 */
import { ApiError, listNotifications, markAllRead, markRead, summary, type Boot, type InboxFilter, type SessionUser } from './api.ts';
import { startDemo } from './demo.ts';
import { detectPush, enablePush, type PushState } from './desktopPush.ts';
import { initials } from './format.ts';
import { Inbox } from './inbox.ts';
import { openLiveStream, type LiveFrame, type StreamStatus } from './liveStream.ts';
import { pageElements, refreshTimes, renderBadge, renderList, renderTypeOptions } from './render.ts';

const els = pageElements();
const boot = JSON.parse(document.getElementById('boot')?.textContent ?? '{}') as Partial<Boot>;

const inbox = new Inbox();
let unread = 0;
let user: SessionUser | null = null;
let stream: { close(): void } | null = null;
let loadingGeneration: number | null = null;
let loadFailed = false;
let pushKey: string | null = null;
let fallbackTimer: number | undefined;
/** Rows that arrived live since the last render, to highlight once. */
const fresh = new Set<string>();

// ---- rendering ------------------------------------------------------------------------------

function render(): void {
  renderList(els.list, inbox.items, fresh);
  fresh.clear();
  renderTypeOptions(els.typeFilter, inbox.types, inbox.filter.type);
  const loading = loadingGeneration === inbox.generation;
  els.loading.hidden = !loading;
  els.listError.hidden = !loadFailed || loading;
  els.empty.hidden = !(inbox.loaded && !loading && !loadFailed && inbox.items.length === 0);
  els.emptyText.textContent = inbox.filter.unreadOnly || inbox.filter.type ? 'Nothing here with these filters.' : "You're all caught up.";
  els.markAll.disabled = unread === 0;
  for (const button of els.filterButtons) {
    button.setAttribute('aria-pressed', String((button.dataset.filter === 'unread') === inbox.filter.unreadOnly));
  }
}

function setUnread(count: number): void {
  unread = Math.max(0, count);
  renderBadge(els, unread);
  els.markAll.disabled = unread === 0;
  els.welcomeText.textContent =
    unread === 0 ? 'No unread notifications. The bell rings the moment something new arrives.' : `You have ${unread} unread notification${unread === 1 ? '' : 's'}.`;
}

const STATUS_TEXT: Record<StreamStatus, string> = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline' };

function setStatus(status: StreamStatus): void {
  els.status.dataset.state = status;
  els.statusText.textContent = STATUS_TEXT[status];
  els.status.title = status === 'live' ? 'Receiving updates as they happen' : 'Live updates are paused; they resume by themselves';
}

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

function onFrame(frame: LiveFrame): void {
  switch (frame.type) {
    case 'notification':
      if (inbox.addLive(frame.data)) {
        fresh.add(frame.data.id);
        announce(`New notification: ${frame.data.title}`);
        els.bell.classList.remove('ring');
        void els.bell.offsetWidth; // restart the animation
        els.bell.classList.add('ring');
      }
      break;
    case 'notification.read':
      inbox.markRead(frame.data.id);
      break;
    case 'notifications.read_all':
      inbox.markAllRead();
      break;
    case 'unread_count':
      setUnread(frame.data.unread);
      break;
  }
  render();
}

async function activateItem(id: string): Promise<void> {
  if (!inbox.markRead(id)) return;
  setUnread(unread - 1);
  render();
  try {
    await markRead(id);
  } catch {
    inbox.markUnread(id);
    setUnread(unread + 1);
    render();
    toast('Could not mark that notification as read.', 'error');
  }
}

async function readAll(): Promise<void> {
  const before = unread;
  inbox.markAllRead();
  setUnread(0);
  render();
  try {
    await markAllRead();
    announce('All notifications marked as read.');
  } catch {
    setUnread(before);
    startOver();
    toast('Could not mark everything as read.', 'error');
  }
}

// ---- panel ----------------------------------------------------------------------------------

function setPanel(open: boolean, { restoreFocus = true } = {}): void {
  if (open === !els.panel.hidden) return;
  els.panel.hidden = !open;
  els.bell.setAttribute('aria-expanded', String(open));
  if (open) {
    els.panel.focus({ preventScroll: true });
    refreshTimes(els.list);
  } else if (restoreFocus) {
    els.bell.focus();
  }
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
  const target = e.target as Node;
  // The demo bar is exempt: publishing while watching the open panel is the point of the demo.
  if (els.panel.hidden || els.bellAnchor.contains(target) || els.demoBar.contains(target)) return;
  setPanel(false, { restoreFocus: false });
});
els.list.addEventListener('click', (e) => {
  const main = (e.target as Element).closest<HTMLElement>('.item-main');
  // A link opens its url by itself (in a new tab); the click also marks the row read.
  if (main?.dataset.id) void activateItem(main.dataset.id);
});
els.markAll.addEventListener('click', () => void readAll());
els.listRetry.addEventListener('click', () => void loadPage());
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
  inbox.types.clear();
  inbox.reset({ unreadOnly: false, type: '' });
  setUnread(0);
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
    status: setStatus,
    fresh: () => {
      window.clearTimeout(fallbackTimer);
      startOver();
    },
    refused: () => signedOut(true),
  });
  // If the stream cannot open (a proxy that buffers it, say), show the inbox anyway.
  fallbackTimer = window.setTimeout(() => {
    if (!inbox.loaded) void loadPage();
    summary().then((s) => setUnread(s.unread), () => {});
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
