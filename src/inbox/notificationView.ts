import type { notifications } from '../db/schema.ts';

export type NotificationRow = typeof notifications.$inferSelect;

/** The notification as clients see it (SPEC §5); ids are strings because they are 64-bit. */
export type NotificationView = {
  id: string;
  eventId: string;
  type: string;
  tenantId: string;
  severity: string | null;
  title: string;
  body: string;
  url: string | null;
  data: Record<string, unknown>;
  readAt: string | null;
  createdAt: string;
};

export function presentNotification(row: NotificationRow): NotificationView {
  return {
    id: row.id.toString(),
    eventId: row.eventId,
    type: row.type,
    tenantId: row.tenantId,
    severity: row.severity,
    title: row.title,
    body: row.body,
    url: row.url,
    data: row.data,
    readAt: row.readAt ? row.readAt.toISOString() : null,
    createdAt: row.createdAt.toISOString(),
  };
}
