import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import {
  announceInboxRows,
  createInboxPairs,
  insertInboxRows,
  markInappRefusedStatement,
  markInappSent,
  renderInboxContents,
  unannouncedEarlierRows,
} from '../inbox/inboxWriter.ts';
import { eventKey, type EventEnvelope } from '../intake/eventEnvelope.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { actorName, loadActors } from '../routing/directory.ts';
import type { PayloadOf } from '../queues/catalog.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import { directSource, type TemplateSource } from '../templates/templateRenderer.ts';

type InappBatch = PayloadOf<'inapp'>;

/** How many inbox rows a batch wrote and announced. */
export type InappResult = { written: number };

export type InappDeps = {
  /**
   * Writes batches of inbox rows: writeInappBatches, which the worker group-commits so the
   * batches its concurrent jobs hold are written together.
   */
  writeBatches: (batches: InappBatch[]) => Promise<InappResult[]>;
};

/** Writes one in-app job's batch of inbox rows for an event, then announces them live (see writeInappBatches). */
export async function deliver(job: QueueJob<'inapp'>, deps: InappDeps): Promise<InappResult> {
  const [result] = await deps.writeBatches([job.payload]);
  return result ?? { written: 0 };
}

export type InappWriterDeps = {
  db: Db;
  frames: FramePublisher;
  /** Where in-app templates come from; the database directly unless the worker passes its cache. */
  templates?: TemplateSource;
};

/**
 * The in-app batches of large fan-outs (the router writes small ones itself): the rows of
 * several batches, of one event or many, in one statement; then they are announced live and
 * their deliveries marked sent. The in-app worker group-commits the batches its concurrent
 * jobs hold, so a busy worker pays these round trips once per group. Rows still marked pending
 * are announced again on a retry; the unique (event, user) key keeps the inbox exactly-once.
 */
export async function writeInappBatches(batches: InappBatch[], deps: InappWriterDeps): Promise<InappResult[]> {
  const { db } = deps;
  const refs = [...new Map(batches.map((b) => [eventKey({ tenantId: b.tenantId, id: b.eventId }), { tenantId: b.tenantId, id: b.eventId }])).values()];
  const stored = await db.execute<{ envelope: EventEnvelope; accepted_at: string }>(sql`
    select envelope, accepted_at::text from events
    where (tenant_id, id) in (select * from unnest(${sql.param(refs.map((r) => r.tenantId))}::text[], ${sql.param(refs.map((r) => r.id))}::text[]))`);
  const eventsByKey = new Map(stored.map((row) => [eventKey(row.envelope), { envelope: row.envelope, acceptedAt: new Date(row.accepted_at) }]));
  if (eventsByKey.size === 0) return batches.map(() => ({ written: 0 }));

  const source = deps.templates ?? directSource(db);
  const envelopes = [...eventsByKey.values()].map(({ envelope }) => envelope);
  const actors = await loadActors(db, envelopes);
  const { contents, refused } = await renderInboxContents(
    source,
    envelopes.map((event) => ({ event, actorName: actorName(event, event.actorId ? actors.get(event.actorId) : undefined) })),
  );
  if (refused.size > 0) (await db.execute(markInappRefusedStatement(refused))).forEach(() => observeDelivery('inapp', 'failed'));
  const pairs = createInboxPairs();
  for (const { tenantId, eventId, userIds } of batches) {
    const key = eventKey({ tenantId, id: eventId });
    if (eventsByKey.has(key) && !refused.has(key)) for (const userId of userIds) pairs.add({ tenantId, id: eventId }, userId);
  }
  if (pairs.size === 0) return batches.map(() => ({ written: 0 }));
  const inserted = await insertInboxRows(db, contents, pairs);
  const earlier = await unannouncedEarlierRows(db, pairs, inserted.rows);
  await announceInboxRows(deps.frames, inserted, earlier);
  const unannounced = [...inserted.rows, ...earlier.rows];

  for (const event of await markInappSent(db, pairs)) observeDelivery('inapp', 'sent', eventsByKey.get(eventKey(event))!.acceptedAt);

  return batches.map((batch) => {
    const users = new Set(batch.userIds);
    return { written: unannounced.filter((row) => row.tenantId === batch.tenantId && row.eventId === batch.eventId && users.has(row.userId)).length };
  });
}
