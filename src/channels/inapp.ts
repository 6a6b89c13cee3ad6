import { inArray } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { events } from '../db/schema.ts';
import {
  announceInboxRows,
  createInboxPairs,
  insertInboxRows,
  markInappRefusedStatement,
  markInappSent,
  renderInboxContents,
  unannouncedEarlierRows,
} from '../inbox/inboxWriter.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { actorName, loadActors } from '../routing/directory.ts';
import type { PayloadOf } from '../queues/catalog.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import { directSource, type TemplateSource } from '../templates/templateRenderer.ts';

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
 * The in-app batches of large fan-outs (the router writes small ones itself): the rows of
 * several batches, of one event or many, in one statement; then they are announced live and
 * their deliveries marked sent. The in-app worker group-commits the batches its concurrent
 * jobs hold, so a busy worker pays these round trips once per group. Rows still marked pending
 * are announced again on a retry; the unique (event, user) key keeps the inbox exactly-once.
 */
export async function deliverInappBatches(batches: InappBatch[], deps: InappDeps): Promise<{ written: number }[]> {
  const { db } = deps;
  const stored = await db
    .select({ id: events.id, envelope: events.envelope, acceptedAt: events.acceptedAt })
    .from(events)
    .where(inArray(events.id, [...new Set(batches.map((b) => b.eventId))]));
  const eventsById = new Map(stored.map((row) => [row.id, { envelope: row.envelope as unknown as EventEnvelope, acceptedAt: row.acceptedAt }]));
  if (eventsById.size === 0) return batches.map(() => ({ written: 0 }));

  const source = deps.templates ?? directSource(db);
  const envelopes = [...eventsById.values()].map(({ envelope }) => envelope);
  const actors = await loadActors(db, envelopes);
  const { contents, refused } = await renderInboxContents(
    source,
    envelopes.map((event) => ({ event, actorName: actorName(event, event.actorId ? actors.get(event.actorId) : undefined) })),
  );
  if (refused.size > 0) (await db.execute(markInappRefusedStatement(refused))).forEach(() => observeDelivery('inapp', 'failed'));
  const pairs = createInboxPairs();
  for (const { eventId, userIds } of batches) {
    if (eventsById.has(eventId) && !refused.has(eventId)) for (const userId of userIds) pairs.add(eventId, userId);
  }
  if (pairs.size === 0) return batches.map(() => ({ written: 0 }));
  const inserted = await insertInboxRows(db, contents, pairs);
  const earlier = await unannouncedEarlierRows(db, pairs, inserted.rows);
  await announceInboxRows(deps.frames, inserted, earlier);
  const unannounced = [...inserted.rows, ...earlier.rows];

  for (const eventId of await markInappSent(db, pairs)) observeDelivery('inapp', 'sent', eventsById.get(eventId)!.acceptedAt);

  return batches.map((batch) => {
    const users = new Set(batch.userIds);
    return { written: unannounced.filter((row) => row.eventId === batch.eventId && users.has(row.userId)).length };
  });
}
