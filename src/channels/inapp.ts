import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events, notifications } from '../db/schema.ts';
import { eq } from 'drizzle-orm';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { unreadByTenant } from '../inbox/inboxStore.ts';
import { presentNotification, type NotificationRow } from '../inbox/notificationView.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { PayloadOf } from '../queues/catalog.ts';
import { unreadCountFrame, type FramePublisher, type LiveFrame } from '../realtime/liveFrames.ts';
import { defaultInboxContent, safeLink } from '../templates/defaultContent.ts';
import { TemplateError } from '../templates/handlebars.ts';
import { directSource, renderMessage } from '../templates/templateRenderer.ts';

export type InappDeps = { db: Db; frames: FramePublisher };

/**
 * Writes one batch of inbox rows for an event in one statement, then announces them live.
 * Rows still marked pending are announced again on a retry (a crash between insert and
 * publish must not leave a user without the live frame); the unique (event, user) key keeps
 * the inbox itself exactly-once.
 */
export async function deliverInapp(payload: PayloadOf<'inapp'>, deps: InappDeps): Promise<{ written: number }> {
  const { db } = deps;
  const [event] = await db.select({ envelope: events.envelope, acceptedAt: events.acceptedAt }).from(events).where(eq(events.id, payload.eventId));
  if (!event) return { written: 0 };
  const envelope = event.envelope as unknown as EventEnvelope;
  // Rendered once per batch, so an in-app template sees no `user.*`; one statement writes every row.
  // A stored template that fails to render must not keep the notification from the inbox.
  const text = await renderMessage(directSource(db), envelope, 'inapp', null).then(
    (rendered) => rendered.content,
    (err: unknown) => {
      if (err instanceof TemplateError) return defaultInboxContent(envelope);
      throw err;
    },
  );
  const content = { title: text.title, body: text.body, url: safeLink(envelope.data.url) };

  await db.execute(sql`
    insert into notifications (user_id, tenant_id, event_id, type, severity, title, body, url, data)
    select u.user_id, ${envelope.tenantId}, ${envelope.id}, ${envelope.type}, ${envelope.severity},
           ${content.title}, ${content.body}, ${content.url}, ${JSON.stringify(envelope.data)}::jsonb
    from unnest(${sql.param(payload.userIds)}::text[]) as u(user_id)
    on conflict (event_id, user_id) do nothing
  `);

  const unannounced = await db
    .select()
    .from(notifications)
    .where(sql`${notifications.eventId} = ${envelope.id} and ${notifications.userId} in (
      select d.destination from deliveries d
      where d.event_id = ${envelope.id} and d.channel = 'inapp' and d.state = 'pending'
        and d.destination = any(${sql.param(payload.userIds)}::text[]))`);

  if (unannounced.length > 0) await announce(deps, unannounced);

  const sent = await db.execute(sql`
    update deliveries set state = 'sent', sent_at = now(), updated_at = now(), attempts = attempts + 1
    where event_id = ${envelope.id} and channel = 'inapp' and state = 'pending' and destination = any(${sql.param(payload.userIds)}::text[])
  `);
  for (let i = 0; i < sent.count; i++) observeDelivery('inapp', 'sent', event.acceptedAt);
  return { written: unannounced.length };
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
