/// <reference lib="dom" />
/** The bell page's view of Herald's API (SPEC §5), over same-origin fetch with the session cookie. */

/** The notification exactly as the API serves it: one definition for server and page. */
export type { NotificationView as Notification } from '../src/inbox/notificationView.ts';
import type { NotificationView as Notification } from '../src/inbox/notificationView.ts';

export type Page = { items: Notification[]; nextCursor: string | null };

/** Who the page is for, as the server rendered it into the page or a demo sign-in answered. */
export type SessionUser = { id: string; name: string; email: string | null; role: 'user' | 'admin'; tenants: string[] };

export type Boot = { demo: boolean; user: SessionUser | null };

/** The panel's two tabs: the inbox (everything but archived) and the archive. */
export type InboxView = 'inbox' | 'archived';

/** What the list shows: a tab, and in the inbox tab optionally only unread rows; a type in either. */
export type InboxFilter = { view: InboxView; unreadOnly: boolean; type: string };

/** A person's counts, archived rows left out (SPEC §5.1): the badge shows unseen, the welcome text unread. */
export type Counts = { unread: number; unseen: number };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!res.ok) {
    const problem = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new ApiError(res.status, problem?.error?.message ?? `${method} ${path} answered ${res.status}`);
  }
  return (res.status === 204 ? undefined : await res.json()) as T;
}

export const PAGE_SIZE = 20;

export function listNotifications(filter: InboxFilter, cursor: string | null, limit = PAGE_SIZE): Promise<Page> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set('cursor', cursor);
  if (filter.view === 'archived') query.set('status', 'archived');
  else if (filter.unreadOnly) query.set('status', 'unread');
  if (filter.type) query.set('type', filter.type);
  return call('GET', `/api/v1/notifications?${query}`);
}

const one = (id: string) => `/api/v1/notifications/${encodeURIComponent(id)}`;

export const summary = () => call<Counts & { total: number }>('GET', '/api/v1/notifications/summary');
export const markRead = (id: string) => call<void>('POST', `${one(id)}/read`);
export const markAllRead = () => call<{ updated: number }>('POST', '/api/v1/notifications/read-all');
export const archive = (id: string) => call<void>('POST', `${one(id)}/archive`);
export const archiveAllRead = () => call<{ updated: number }>('POST', '/api/v1/notifications/archive', { read: true });

/** The API takes at most this many ids in one request. */
const MAX_IDS = 1_000;

export async function markSeen(ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += MAX_IDS) await call('POST', '/api/v1/notifications/seen', { ids: ids.slice(i, i + MAX_IDS) });
}

export async function vapidPublicKey(): Promise<string | null> {
  try {
    return (await call<{ publicKey: string }>('GET', '/api/v1/push/vapid-public-key')).publicKey || null;
  } catch {
    // 404 (no push routes) or 503 (push not configured): the page simply offers no desktop notifications.
    return null;
  }
}

export const savePushSubscription = (subscription: PushSubscriptionJSON) => call<unknown>('POST', '/api/v1/me/push-subscriptions', subscription);

export type DemoUser = { id: string; name: string; email: string; role: 'user' | 'admin' };

export const demoUsers = () => call<{ items: DemoUser[] }>('GET', '/demo/users');
export const demoSignIn = (userId: string) => call<{ user: SessionUser; token: string }>('POST', '/demo/session', { userId });
export const demoPublish = () => call<{ id: string; status: string }>('POST', '/demo/publish', {});
