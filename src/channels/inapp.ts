import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { markBatchesWritten, unwrittenBatches, type BatchKey } from '../inbox/inappBatches.ts';
import {
  announceInboxRowsToListeners,
  insertInboxRows,
  markInappSent,
  recordInappRefusedStatement,
  unannouncedEarlierRows,
  type DeliveryPairs,
  type InboxWrite,
} from '../inbox/inboxWriter.ts';
import type { NotificationRow } from '../inbox/notificationView.ts';
import { prepareInboxRows, type InappRecipient } from '../inbox/inboxContent.ts';
import { eventKey, recipientKey, type EventEnvelope } from '../intake/eventEnvelope.ts';
import { DEFAULT_PRIORITY, type Priority } from '../routing/priority.ts';
import type { RuleContent } from '../routing/ruleSpec.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { actorName, loadActors } from '../routing/directory.ts';
import type { PayloadOf } from '../queues/catalog.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import { directSource, type TemplateSource } from '../templates/templateRenderer.ts';

/** An in-app job's payload: one batch of a large fan-out. */
type BatchPayload = PayloadOf<'inapp'>;

/** How many inbox rows a batch wrote and announced. */
export type InappResult = { written: number };

/**
 * A batch written and announced; `marked` settles once its deliveries are marked sent, which
 * the writer does after the frames, off its own path (see writeInappBatches).
 */
export type InappWrite = InappResult & { marked: Promise<void> };

export type InappDeps = {
  /**
   * Writes batches of inbox rows: writeInappBatches, which the worker group-commits so the
   * batches its concurrent jobs hold are written together.
   */
  writeBatches: (batches: BatchPayload[]) => Promise<InappWrite[]>;
};

/**
 * Writes one in-app job's batch of inbox rows for an event, announces them live, and ends
 * once their deliveries are marked sent: a job that fails before then runs again and
 * announces the rows still pending (see writeInappBatches).
 */
export async function deliver(job: QueueJob<'inapp'>, deps: InappDeps): Promise<InappResult> {
  const [result] = await deps.writeBatches([job.payload]);
  if (!result) return { written: 0 };
  await result.marked;
  return { written: result.written };
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
 * their batches marked written (src/inbox/inappBatches.ts). The in-app worker group-commits the
 * batches its concurrent jobs hold, so a busy worker pays these round trips once per group.
 * Rows of a batch not marked written yet are announced again on a retry; the unique
 * (event, user) key keeps the inbox exactly-once.
 *
 * This returns once the frames are out; the marking is left running in `marked`, so the next
 * group's rows need not wait for it. A job enqueued before batches were recorded (no `batch`)
 * has a pending delivery row per user instead, which is marked sent.
 */
export async function writeInappBatches(batches: BatchPayload[], deps: InappWriterDeps): Promise<InappWrite[]> {
  const { db } = deps;
  const recorded = batches.filter((b): b is BatchPayload & BatchKey => b.batch !== undefined);
  const legacy = batches.filter((b) => b.batch === undefined);
  const refs = [...new Map(batches.map((b) => [eventKey({ tenantId: b.tenantId, id: b.eventId }), { tenantId: b.tenantId, id: b.eventId }])).values()];
  const [stored, planned] = await Promise.all([
    db.execute<{ envelope: EventEnvelope; accepted_at: string }>(sql`
      select envelope, accepted_at::text from events
      where (tenant_id, id) in (select * from unnest(${sql.param(refs.map((r) => r.tenantId))}::text[], ${sql.param(refs.map((r) => r.id))}::text[]))`),
    recipientsOf(db, batches),
  ]);
  const eventsByKey = new Map(stored.map((row) => [eventKey(row.envelope), { envelope: row.envelope, acceptedAt: new Date(row.accepted_at) }]));
  // A batch whose event is gone (retention) or whose every row was refused has nothing to announce, ever.
  const nothingToWrite = () => {
    const marked = markBatchesWritten(db, recorded);
    return batches.map(() => ({ written: 0, marked }));
  };
  if (eventsByKey.size === 0) return nothingToWrite();

  const source = deps.templates ?? directSource(db);
  const envelopes = [...eventsByKey.values()].map(({ envelope }) => envelope);
  const actors = await loadActors(db, envelopes);
  const items = batches.flatMap(({ tenantId, eventId, userIds }) => {
    const key = eventKey({ tenantId, id: eventId });
    const event = eventsByKey.get(key)?.envelope;
    if (!event) return [];
    const recipients = userIds.map((userId) => planned.get(recipientKey(event, userId)) ?? { userId, priority: event.priority ?? DEFAULT_PRIORITY, ruleId: null, contentRule: null });
    return [{ event, actorName: actorName(event, event.actorId ? actors.get(event.actorId) : undefined), recipients }];
  });
  const { contents, pairs, refused } = await prepareInboxRows(source, items);
  if (refused.length > 0) (await db.execute(recordInappRefusedStatement(refused))).forEach(() => observeDelivery('inapp', 'failed'));
  if (pairs.size === 0) return nothingToWrite();
  const inserted = await insertInboxRows(db, contents, pairs);
  const earlier = inserted.rows.length < pairs.size ? await unannouncedEarlierRowsOf(db, recorded, legacy, inserted.rows) : [];
  await announceInboxRowsToListeners(deps.frames, inserted, ...earlier);
  const unannounced = [...inserted.rows, ...earlier.flatMap((write) => write.rows)];

  // A recorded batch's row is its delivery, sent once announced; a job from before counts as its rows are marked.
  const legacyPairs = pairKeys(legacy);
  for (const row of inserted.rows) {
    const event = { tenantId: row.tenantId, id: row.eventId };
    if (!legacyPairs.has(recipientKey(event, row.userId))) observeDelivery('inapp', 'sent', eventsByKey.get(eventKey(event))?.acceptedAt);
  }
  const marked = Promise.all([
    markBatchesWritten(db, recorded),
    markInappSent(db, deliveryPairsOf(legacy)).then((events) => {
      for (const event of events) observeDelivery('inapp', 'sent', eventsByKey.get(eventKey(event))?.acceptedAt);
    }),
  ]).then(() => {});

  return batches.map((batch) => {
    const users = new Set(batch.userIds);
    return { written: unannounced.filter((row) => row.tenantId === batch.tenantId && row.eventId === batch.eventId && users.has(row.userId)).length, marked };
  });
}

/**
 * Rows of these batches an earlier run wrote but did not announce: every row of a recorded batch
 * not marked written yet (it is marked once its frames are out), and the rows of an older job's
 * batch whose deliveries are still pending. Only asked when some rows existed already.
 */
async function unannouncedEarlierRowsOf(db: Db, recorded: (BatchPayload & BatchKey)[], legacy: BatchPayload[], fresh: NotificationRow[]): Promise<InboxWrite[]> {
  const open = await unwrittenBatches(db, recorded);
  const freshOf = (of: BatchPayload[]) => {
    const keys = pairKeys(of);
    return fresh.filter((row) => keys.has(recipientKey({ tenantId: row.tenantId, id: row.eventId }, row.userId)));
  };
  return Promise.all([
    unannouncedEarlierRows(db, deliveryPairsOf(open), freshOf(open), { pendingDelivery: false }),
    unannouncedEarlierRows(db, deliveryPairsOf(legacy), freshOf(legacy)),
  ]);
}

/** The (event, user) pairs of batches, as the statements that read their rows take them. */
function deliveryPairsOf(batches: BatchPayload[]): DeliveryPairs {
  const pairs: DeliveryPairs = { tenantIds: [], eventIds: [], userIds: [] };
  for (const { tenantId, eventId, userIds } of batches) {
    for (const userId of userIds) {
      pairs.tenantIds.push(tenantId);
      pairs.eventIds.push(eventId);
      pairs.userIds.push(userId);
    }
  }
  return pairs;
}

/** The batches' (event, user) pairs as recipientKey keys. */
function pairKeys(batches: BatchPayload[]): Set<string> {
  return new Set(batches.flatMap(({ tenantId, eventId, userIds }) => userIds.map((userId) => recipientKey({ tenantId, id: eventId }, userId))));
}

/**
 * What routing decided for each row of the batches: the person's priority and the rule whose
 * content their row takes, keyed by eventKey and user. A batch carries them (the rules'
 * contents are read, when any has one); one enqueued before batches did is read from its
 * in-app delivery rows.
 */
async function recipientsOf(db: Db, batches: BatchPayload[]): Promise<Map<string, InappRecipient>> {
  const carrying = batches.filter(carriesDecisions);
  const ruleIds = [...new Set(carrying.flatMap((b) => b.ruleIds.filter((id): id is string => id !== null)))];
  const [contents, planned] = await Promise.all([
    ruleIds.length === 0
      ? []
      : db.execute<{ id: string; content: RuleContent }>(sql`select id, content from rules where id = any(${sql.param(ruleIds)}::uuid[]) and content is not null`),
    plannedRecipients(db, batches.filter((b) => !carriesDecisions(b))),
  ]);
  const contentOf = new Map(contents.map((rule) => [rule.id, rule.content]));
  for (const { tenantId, eventId, userIds, priorities, ruleIds: rules } of carrying) {
    userIds.forEach((userId, i) => {
      const ruleId = rules[i]!;
      const content = ruleId === null ? undefined : contentOf.get(ruleId);
      planned.set(recipientKey({ tenantId, id: eventId }, userId), { userId, priority: priorities[i]!, ruleId, contentRule: ruleId !== null && content ? { id: ruleId, content } : null });
    });
  }
  return planned;
}

/** A batch the router handed its users' decisions with (every batch since they were added). */
function carriesDecisions(batch: BatchPayload): batch is BatchPayload & Required<Pick<BatchPayload, 'priorities' | 'ruleIds'>> {
  return batch.priorities !== undefined && batch.ruleIds !== undefined;
}

/** recipientsOf for batches that carry no decisions: from their in-app delivery rows. */
async function plannedRecipients(db: Db, batches: BatchPayload[]): Promise<Map<string, InappRecipient>> {
  if (batches.length === 0) return new Map();
  const pairs = batches.flatMap((b) => b.userIds.map((userId) => [b.tenantId, b.eventId, userId] as const));
  const rows = await db.execute<{ tenant_id: string; event_id: string; user_id: string; priority: Priority; rule_id: string | null; content: RuleContent | null }>(sql`
    select d.tenant_id, d.event_id, d.destination as user_id, d.priority, d.rule_id::text as rule_id, r.content
    from deliveries d
    join unnest(${sql.param(pairs.map((p) => p[0]))}::text[], ${sql.param(pairs.map((p) => p[1]))}::text[], ${sql.param(pairs.map((p) => p[2]))}::text[])
      as p(tenant_id, event_id, user_id) on d.tenant_id = p.tenant_id and d.event_id = p.event_id and d.destination = p.user_id
    left join rules r on r.id = d.rule_id and r.content is not null
    where d.channel = 'inapp'`);
  return new Map(
    rows.map((row) => [
      recipientKey({ tenantId: row.tenant_id, id: row.event_id }, row.user_id),
      { userId: row.user_id, priority: row.priority, ruleId: row.rule_id, contentRule: row.rule_id && row.content ? { id: row.rule_id, content: row.content } : null },
    ]),
  );
}
