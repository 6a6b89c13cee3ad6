import { inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events, notifications } from '../db/schema.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { unreadByTenant } from '../inbox/inboxStore.ts';
import { presentNotification, type NotificationRow } from '../inbox/notificationView.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { PayloadOf } from '../queues/catalog.ts';
import { unreadCountFrame, type FramePublisher, type LiveFrame } from '../realtime/liveFrames.ts';
import { defaultInboxContent, safeLink } from '../templates/defaultContent.ts';
import { TemplateError } from '../templates/handlebars.ts';
import { directSource, renderMessage, type TemplateSource } from '../templates/templateRenderer.ts';

export type InappDeps = {
  db: Db;
  frames: FramePublisher;
  /** Where in-app templates come from; the database directly unless the worker passes its cache. */
  templates?: TemplateSource;
};

type InappBatch = PayloadOf<'inapp'>;

/** Writes one batch of inbox rows for an event, then announces them live (see deliverInappBatches). */
export async function deliverInapp(payload: InappBatch, deps: InappDeps): Promise<{ written: number }> {
  const [result] = await deliverInappBatches([payload], deps);
  return result ?? { written: 0 };
}

/**
 * Writes the inbox rows of several batches (of one event or many) in one statement, then
 * announces them live and marks their deliveries sent: the in-app worker group-commits the
 * batches its concurrent jobs hold, so a busy worker pays these round trips once per group.
 * Rows still marked pending are announced again on a retry (a crash between insert and
 * publish must not leave a user without the live frame); the unique (event, user) key keeps
 * the inbox itself exactly-once.
 */
export async function deliverInappBatches(batches: InappBatch[], deps: InappDeps): Promise<{ written: number }[]> {
  const { db } = deps;
  const stored = await db
    .select({ id: events.id, envelope: events.envelope, acceptedAt: events.acceptedAt })
    .from(events)
    .where(inArray(events.id, [...new Set(batches.map((b) => b.eventId))]));
  const eventsById = new Map(stored.map((row) => [row.id, { envelope: row.envelope as unknown as EventEnvelope, acceptedAt: row.acceptedAt }]));
  const recipients = uniquePairs(batches.filter((b) => eventsById.has(b.eventId)));
  if (recipients.eventIds.length === 0) return batches.map(() => ({ written: 0 }));

  const source = deps.templates ?? directSource(db);
  const contents = await Promise.all([...eventsById.values()].map(({ envelope }) => inboxContent(source, envelope)));
  const inserted = await db.execute<RawNotification>(sql`
    insert into notifications (user_id, tenant_id, event_id, type, severity, title, body, url, data)
    select r.user_id, e.tenant_id, e.event_id, e.type, e.severity, e.title, e.body, e.url, e.data
    from unnest(${sql.param(recipients.eventIds)}::text[], ${sql.param(recipients.userIds)}::text[]) as r(event_id, user_id)
    join jsonb_to_recordset(${JSON.stringify(contents)}::jsonb)
      as e(event_id text, tenant_id text, type text, severity text, title text, body text, url text, data jsonb)
      on e.event_id = r.event_id
    on conflict (event_id, user_id) do nothing
    returning *
  `);

  // A row written just now was never announced. Only when some already existed (a retry) must the
  // pending deliveries be read to find which of those still wait for their frame.
  let unannounced = inserted.map(notificationRow);
  if (unannounced.length < recipients.eventIds.length) {
    const pendingRecipients = sql`
      select d.event_id, d.destination from deliveries d
      join unnest(${sql.param(recipients.eventIds)}::text[], ${sql.param(recipients.userIds)}::text[]) as r(event_id, user_id)
        on d.event_id = r.event_id and d.destination = r.user_id
      where d.channel = 'inapp' and d.state = 'pending'`;
    const fresh = new Set(unannounced.map((row) => row.id));
    const earlier = await db
      .select()
      .from(notifications)
      .where(sql`(${notifications.eventId}, ${notifications.userId}) in (${pendingRecipients})`);
    unannounced = [...unannounced, ...earlier.filter((row) => !fresh.has(row.id))];
  }
  if (unannounced.length > 0) await announce(deps, unannounced);

  const sent = await db.execute<{ event_id: string }>(sql`
    update deliveries d set state = 'sent', sent_at = now(), updated_at = now(), attempts = d.attempts + 1
    from unnest(${sql.param(recipients.eventIds)}::text[], ${sql.param(recipients.userIds)}::text[]) as r(event_id, user_id)
    where d.event_id = r.event_id and d.destination = r.user_id and d.channel = 'inapp' and d.state = 'pending'
    returning d.event_id
  `);
  for (const { event_id: eventId } of sent) observeDelivery('inapp', 'sent', eventsById.get(eventId)!.acceptedAt);

  return batches.map((batch) => {
    const users = new Set(batch.userIds);
    return { written: unannounced.filter((row) => row.eventId === batch.eventId && users.has(row.userId)).length };
  });
}

type RawNotification = {
  id: string;
  user_id: string;
  tenant_id: string;
  event_id: string;
  type: string;
  severity: string | null;
  title: string;
  body: string;
  url: string | null;
  data: Record<string, unknown>;
  read_at: Date | string | null;
  created_at: Date | string;
};

/** A row as RETURNING gives it (snake_case, driver types) in the shape drizzle reads it. */
function notificationRow(raw: RawNotification): NotificationRow {
  return {
    id: BigInt(raw.id),
    userId: raw.user_id,
    tenantId: raw.tenant_id,
    eventId: raw.event_id,
    type: raw.type,
    severity: raw.severity,
    title: raw.title,
    body: raw.body,
    url: raw.url,
    data: raw.data,
    readAt: raw.read_at === null ? null : new Date(raw.read_at),
    createdAt: new Date(raw.created_at),
  };
}

/** The (event, user) pairs of the batches, each once, as two parallel arrays for unnest. */
function uniquePairs(batches: InappBatch[]): { eventIds: string[]; userIds: string[] } {
  const eventIds: string[] = [];
  const userIds: string[] = [];
  const seen = new Set<string>();
  for (const { eventId, userIds: users } of batches) {
    for (const userId of users) {
      const key = `${eventId}\u0000${userId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      eventIds.push(eventId);
      userIds.push(userId);
    }
  }
  return { eventIds, userIds };
}

/**
 * An event's inbox text, rendered once for all its recipients (so an in-app template sees no
 * `user.*`). A stored template that fails to render must not keep the notification from the inbox.
 */
async function inboxContent(source: TemplateSource, envelope: EventEnvelope) {
  const text = await renderMessage(source, envelope, 'inapp', null).then(
    (rendered) => rendered.content,
    (err: unknown) => {
      if (err instanceof TemplateError) return defaultInboxContent(envelope);
      throw err;
    },
  );
  return {
    event_id: envelope.id,
    tenant_id: envelope.tenantId,
    type: envelope.type,
    severity: envelope.severity,
    title: text.title,
    body: text.body,
    url: safeLink(envelope.data.url),
    data: envelope.data,
  };
}

async function announce(deps: InappDeps, rows: NotificationRow[]): Promise<void> {
  const counts = await unreadByTenant(deps.db, rows.map((r) => r.userId));
  const frames: { userId: string; frame: LiveFrame }[] = [];
  for (const row of rows) {
    frames.push({ userId: row.userId, frame: { type: 'notification', data: presentNotification(row) } });
    frames.push({ userId: row.userId, frame: unreadCountFrame(counts.get(row.userId) ?? {}) });
  }
  await deps.frames.toUsers(frames);
}
