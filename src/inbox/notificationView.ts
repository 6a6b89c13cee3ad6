import type { notifications } from '../db/schema.ts';

export type NotificationRow = typeof notifications.$inferSelect;

export type NotificationAction = { label: string; url: string };

/** The notification as clients see it (SPEC §5, §5.1); ids are strings because they are 64-bit. */
export type NotificationView = {
  id: string;
  eventId: string;
  type: string;
  tenantId: string;
  severity: string | null;
  priority: string;
  title: string;
  body: string;
  url: string | null;
  data: Record<string, unknown>;
  actor: { id: string; name: string } | null;
  actions: NotificationAction[];
  seenAt: string | null;
  readAt: string | null;
  archivedAt: string | null;
  createdAt: string;
};

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function presentNotification(row: NotificationRow): NotificationView {
  return {
    id: row.id.toString(),
    eventId: row.eventId,
    type: row.type,
    tenantId: row.tenantId,
    severity: row.severity,
    priority: row.priority,
    title: row.title,
    body: row.body,
    url: row.url,
    data: row.data,
    actor: row.actor ?? null,
    actions: actionsOf(row.data),
    seenAt: iso(row.seenAt),
    readAt: iso(row.readAt),
    archivedAt: iso(row.archivedAt),
    createdAt: row.createdAt.toISOString(),
  };
}

const MAX_ACTIONS = 3;
const MAX_LABEL = 40;

/**
 * The action buttons an event's `data.actions` asks for: at most three, each a label (trimmed,
 * at most 40 characters) and an https or relative url. Anything else is dropped, never an error:
 * the publisher's event was accepted long before anyone renders it.
 */
export function actionsOf(data: Record<string, unknown>): NotificationAction[] {
  if (!Array.isArray(data.actions)) return [];
  const actions: NotificationAction[] = [];
  for (const item of data.actions as unknown[]) {
    if (actions.length === MAX_ACTIONS) break;
    const { label, url } = (item ?? {}) as { label?: unknown; url?: unknown };
    if (typeof label !== 'string' || typeof url !== 'string') continue;
    const text = label.trim().slice(0, MAX_LABEL).trim();
    if (text === '' || !isActionUrl(url)) continue;
    actions.push({ label: text, url });
  }
  return actions;
}

/** https anywhere, or a path on the page's own origin (`/findings/42`, not `//evil.example`). */
function isActionUrl(url: string): boolean {
  // Browsers drop tabs and newlines inside URLs, which would turn `/\t/evil.example` into another origin.
  if (/[\s\x00-\x1f\\]/.test(url) || url.length > 2_000) return false;
  if (url.startsWith('/')) return !url.startsWith('//');
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}
