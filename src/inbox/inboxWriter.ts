import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { recipientKey, type EventRef } from '../intake/eventEnvelope.ts';
import type { Priority } from '../routing/priority.ts';
import { unreadCountFrame, type FramePublisher, type LiveFrame } from '../realtime/liveFrames.ts';
import type { InboxContent, RefusedRow } from './inboxContent.ts';
import { applyCountDeltas, countsByUser, type CountRow, type InboxCounts } from './inboxCounts.ts';
import { presentNotification, type NotificationRow } from './notificationView.ts';

/** A database handle or an open transaction: the statements below run in either. */
export type DbOrTx = Pick<Db, 'execute'>;

/**
 * Inbox rows to write as parallel arrays (for unnest), in the order each user must see them:
 * each row's event (tenant and id), user, content (see contentKey) and priority.
 */
export type InboxPairs = { tenantIds: string[]; eventIds: string[]; userIds: string[]; contentKeys: string[]; priorities: Priority[] };

/** Collects (event, user) pairs once each, keeping the order they were first added in. */
export function createInboxPairs(): InboxPairs & { add(event: EventRef, userId: string, contentKey: string, priority: Priority): void; readonly size: number } {
  const seen = new Set<string>();
  const pairs = {
    tenantIds: [] as string[],
    eventIds: [] as string[],
    userIds: [] as string[],
    contentKeys: [] as string[],
    priorities: [] as Priority[],
    add(event: EventRef, userId: string, contentKey: string, priority: Priority) {
      const key = recipientKey(event, userId);
      if (seen.has(key)) return;
      seen.add(key);
      pairs.tenantIds.push(event.tenantId);
      pairs.eventIds.push(event.id);
      pairs.userIds.push(userId);
      pairs.contentKeys.push(contentKey);
      pairs.priorities.push(priority);
    },
    get size() {
      return pairs.eventIds.length;
    },
  };
  return pairs;
}

/** Rows written (or found waiting for their frame) and the new unread counts of their users. */
export type InboxWrite = { rows: NotificationRow[]; counts: Map<string, InboxCounts> };

/** A write that wrote nothing. */
export const nothingWritten = (): InboxWrite => ({ rows: [], counts: new Map() });

/**
 * Writes inbox rows in one statement (a large write in a few at once, see pairsByUserRange) and
 * returns those it inserted (a pair that has its row already is left alone: the inbox is
 * exactly-once by its unique (event, user) key), with the new unread counts of their users,
 * which the same statement keeps (see applyCountDeltas).
 *
 * Each row gets its user's next `seq`, the stream cursor. Ids come from a sequence, which hands
 * them out at insert time, not at commit time: with two writers, a row with a lower id can
 * commit after a client has seen a higher one live and resumed from it, and replay by id would
 * then miss it for good. Instead the statement first bumps the user's `inbox_heads` row by the
 * number of rows it writes; that row stays locked until the transaction commits, so a second
 * writer for the same user waits and numbers its rows after ours, and a user's rows commit in
 * `seq` order. Writers of different users never wait for each other, and it costs no round
 * trip of its own. Heads are locked in user-id order, so two writers of overlapping users
 * cannot deadlock. A conflicting pair still takes a number, which leaves a harmless gap.
 */
export async function insertInboxRows(db: DbOrTx, contents: InboxContent[], pairs: InboxPairs): Promise<InboxWrite> {
  if (pairs.eventIds.length === 0) return nothingWritten();
  const writes = await Promise.all(
    pairsByUserRange(pairs, INBOX_WRITE_CHUNK).map(async (chunk) => {
      const write = inboxWriteStatement(contents, chunk);
      const [result] = await db.execute<InboxWriteResult>(sql`with ${write.ctes} select ${write.columns}`);
      return inboxWriteOf(result!, contents);
    }),
  );
  // Each user's rows are in one part, so the parts' rows and counts simply add up.
  return { rows: writes.flatMap((w) => w.rows), counts: new Map(writes.flatMap((w) => [...w.counts])) };
}

/**
 * Rows per statement of a large write (a 10,000-user fan-out): its statements run at once on
 * separate connections, so Postgres writes them on more than one core — one statement of 10,000
 * rows (heads, rows, counts) took 350–520 ms on a two-core machine.
 */
const INBOX_WRITE_CHUNK = 2_500;

/**
 * `pairs` cut into parts of about `size` rows along ranges of user ids, every user's rows in
 * one part and in their order: each part numbers its users' rows under their heads' locks,
 * which it takes in user order like any writer, so parts in parallel neither reorder a user's
 * rows nor deadlock.
 */
function pairsByUserRange(pairs: InboxPairs, size: number): InboxPairs[] {
  if (pairs.eventIds.length <= size) return [pairs];
  const byUser = new Map<string, number[]>();
  pairs.userIds.forEach((userId, i) => (byUser.get(userId) ?? byUser.set(userId, []).get(userId)!).push(i));
  const parts: number[][] = [[]];
  for (const userId of [...byUser.keys()].sort()) {
    if (parts.at(-1)!.length >= size) parts.push([]);
    parts.at(-1)!.push(...byUser.get(userId)!);
  }
  return parts.map((indexes) => ({
    tenantIds: indexes.map((i) => pairs.tenantIds[i]!),
    eventIds: indexes.map((i) => pairs.eventIds[i]!),
    userIds: indexes.map((i) => pairs.userIds[i]!),
    contentKeys: indexes.map((i) => pairs.contentKeys[i]!),
    priorities: indexes.map((i) => pairs.priorities[i]!),
  }));
}

/**
 * What the columns of an inboxWriteStatement give. A new row is its content (which the caller
 * holds) plus a few columns of its own, so only those come back: for a 10,000-user fan-out the
 * whole rows as JSON cost Postgres and the worker more than writing them.
 */
export type InboxWriteResult = { rows: WrittenRow[]; counts: CountRow[] };

/** A new row's own columns: id, user, seq (64-bit numbers as text), its content's key, priority and creation time. */
type WrittenRow = [id: string, userId: string, seq: string, contentKey: string, priority: Priority, createdAt: string];

/**
 * insertInboxRows as parts of a statement, for a caller that writes more in the same one (the
 * router records the event's other deliveries with it): `ctes` to put in its WITH list (every name starts with
 * `inbox_`), `columns` for its SELECT list (`rows` and `counts`, read back with inboxWriteOf),
 * and `locked`, a condition that is true once the users' heads are locked: a write that
 * waits for it takes its own row locks only after them (see recordPlans).
 */
export function inboxWriteStatement(contents: InboxContent[], pairs: InboxPairs): { ctes: SQL; columns: SQL; locked: SQL } {
  const ctes = sql`
    inbox_pairs as (
      select p.tenant_id, p.event_id, p.user_id, p.content_key, p.priority, p.ord
      from unnest(
        ${sql.param(pairs.tenantIds)}::text[], ${sql.param(pairs.eventIds)}::text[], ${sql.param(pairs.userIds)}::text[],
        ${sql.param(pairs.contentKeys)}::text[], ${sql.param(pairs.priorities)}::text[]
      ) with ordinality as p(tenant_id, event_id, user_id, content_key, priority, ord)
    ),
    inbox_locked_heads as (
      insert into inbox_heads (user_id, seq)
      select user_id, count(*) from inbox_pairs group by user_id order by user_id
      on conflict (user_id) do update set seq = inbox_heads.seq + excluded.seq
      returning user_id, seq
    ),
    inbox_numbered as (
      select p.tenant_id, p.event_id, p.user_id, p.content_key, p.priority,
             h.seq - count(*) over (partition by p.user_id) + row_number() over (partition by p.user_id order by p.ord) as seq
      from inbox_pairs p join inbox_locked_heads h on h.user_id = p.user_id
    ),
    inbox_inserted as (
      insert into notifications (user_id, seq, tenant_id, event_id, type, severity, priority, title, body, url, data, actor)
      select n.user_id, n.seq, c.tenant_id, c.event_id, c.type, c.severity, n.priority, c.title, c.body, c.url, c.data, c.actor
      from inbox_numbered n
      join jsonb_to_recordset(${JSON.stringify(contents)}::jsonb)
        as c(key text, event_id text, tenant_id text, type text, severity text, title text, body text, url text, data jsonb, actor jsonb)
        on c.key = n.content_key
      order by n.user_id, n.seq
      on conflict (tenant_id, event_id, user_id) do nothing
      -- Only what the counts and the rows column read: returning * kept every row's content in the CTE too.
      returning id, user_id, seq, tenant_id, priority, created_at
    ),
    inbox_counted as (${applyCountDeltas(sql`select user_id, tenant_id, 1, 1 from inbox_inserted`)})`;
  const columns = sql`
    (select coalesce(json_agg(json_build_array(i.id::text, i.user_id, i.seq::text, n.content_key, i.priority, i.created_at) order by i.user_id, i.seq), '[]')
     from inbox_inserted i join inbox_numbered n on n.user_id = i.user_id and n.seq = i.seq) as rows,
    (select coalesce(json_agg(inbox_counted), '[]') from inbox_counted) as counts`;
  return { ctes, columns, locked: sql`(select count(*) from inbox_locked_heads) >= 0` };
}

/** The rows and counts an inboxWriteStatement wrote, each row rebuilt from its content. */
export function inboxWriteOf(result: InboxWriteResult, contents: InboxContent[]): InboxWrite {
  const byKey = new Map(contents.map((content) => [content.key, content]));
  // Field by field, not through notificationRow with the content spread in: for a 10,000-row
  // fan-out the spread objects cost ~150 ms of the worker's CPU against ~5 ms (measured).
  const rows = result.rows.map(([id, userId, seq, contentKey, priority, createdAt]): NotificationRow => {
    const content = byKey.get(contentKey)!;
    return {
      id: BigInt(id),
      userId,
      seq: BigInt(seq),
      tenantId: content.tenant_id,
      eventId: content.event_id,
      type: content.type,
      severity: content.severity,
      priority,
      title: content.title,
      body: content.body,
      url: content.url,
      data: content.data,
      actor: content.actor,
      seenAt: null,
      readAt: null,
      archivedAt: null,
      deliveredAt: null,
      createdAt: new Date(createdAt),
    };
  });
  return { rows, counts: countsByUser(result.counts) };
}

/**
 * Rows of these pairs written by an earlier run but not announced, with their users' counts: a
 * crash between writing and announcing must not leave a user without the live frame, so a
 * retry announces them again. Only read when some pairs were not inserted just now.
 *
 * What says a row is unannounced depends on the writer: the in-app worker marks a row's
 * delivery sent once its frame is out, so by default a row counts as unannounced while that
 * delivery is pending. The router's rows have no delivery row (each is its in-app delivery's
 * record) and it marks the event routed once the frames are out; it passes only the pairs of
 * events not routed yet, every row of which is unannounced (`pendingDelivery: false`).
 */
export async function unannouncedEarlierRows(
  db: DbOrTx,
  pairs: DeliveryPairs,
  fresh: NotificationRow[],
  { pendingDelivery = true }: { pendingDelivery?: boolean } = {},
): Promise<InboxWrite> {
  if (fresh.length >= pairs.eventIds.length) return nothingWritten();
  const freshIds = new Set(fresh.map((row) => row.id));
  const [result] = await db.execute<{ rows: RawNotification[]; counts: CountRow[] }>(earlierRowsStatement(pairs, pendingDelivery));
  const rows = result!.rows.map(notificationRow).filter((row) => !freshIds.has(row.id));
  return { rows, counts: countsByUser(result!.counts) };
}

/**
 * The statement of unannouncedEarlierRows: one row of (rows, counts), both JSON arrays. Each pair
 * probes its in-app delivery (inappDeliveriesOf) and its inbox row on their unique indexes, and
 * each user's counts are probed by the user, in LATERAL subqueries that OFFSET 0 keeps apart (the
 * planner cannot turn them into joins, nor push a condition into them), so a retry reads the rows
 * of its own pairs whatever the statistics say. Joining the pairs with the tables left the plan
 * to them: the planner hashed every pending delivery (a backlog of thousands) or scanned the
 * whole inbox table, once per retried pass — and a recovery re-routes events pass after pass. The
 * delivery's state is tested outside its probe: inside, statistics that say almost nothing is
 * pending made the partial index of pending rows look the cheapest way in, walked whole for every
 * pair.
 */
export function earlierRowsStatement(pairs: DeliveryPairs, pendingDelivery: boolean): SQL {
  // The in-app worker's pairs come with their delivery's state; the router's need none.
  const pairRows = pendingDelivery
    ? sql`${inappDeliveriesOf(pairs)} as p`
    : sql`unnest(${sql.param(pairs.tenantIds)}::text[], ${sql.param(pairs.eventIds)}::text[], ${sql.param(pairs.userIds)}::text[]) as p(tenant_id, event_id, user_id)`;
  return sql`
    with earlier as (
      select n.*
      from ${pairRows}
      cross join lateral (
        select * from notifications n
        where n.tenant_id = p.tenant_id and n.event_id = p.event_id and n.user_id = p.user_id
        offset 0
      ) as n
      ${pendingDelivery ? sql`where p.state = 'pending'` : sql``}
    )
    select
      (select coalesce(json_agg(${rawNotificationJson(sql`earlier`)} order by user_id, seq), '[]') from earlier) as rows,
      (select coalesce(json_agg(c), '[]') from (select distinct user_id from earlier) as u
        cross join lateral (
          select user_id, tenant_id, unread, unseen, version::text from inbox_counts ic where ic.user_id = u.user_id offset 0
        ) as c) as counts`;
}

/**
 * Rows in one announcement above which it first asks which of their users hold a stream (see
 * listeningUsers). Below it, a frame for someone with no stream open costs less than the round
 * trip of asking — and a pass of a few rows is what a live notification waits for. Above it,
 * most rows of a large write are usually for people not watching (a batch of a thousand events,
 * a fan-out), and building and publishing their frames cost the router more than the write's
 * statement did (the batch step of the bench: ~10% of the router's CPU, for nobody).
 */
export const ASK_WHO_LISTENS_ABOVE = 32;

/**
 * inboxFrames for the users with a stream open now, when the writes are large enough to be worth
 * asking about (ASK_WHO_LISTENS_ABOVE); for all their users otherwise. Only the frames of those
 * who listen are built. Asked after the rows committed, this misses no stream (listeningUsers).
 */
export async function inboxFramesForListeners(frames: FramePublisher, ...writes: InboxWrite[]): Promise<UserFrames[]> {
  const rows = writes.reduce((sum, { rows }) => sum + rows.length, 0);
  if (rows <= ASK_WHO_LISTENS_ABOVE) return inboxFrames(...writes);
  const listening = await frames.listeningUsers([...new Set(writes.flatMap(({ rows, counts }) => [...rows.map((row) => row.userId), ...counts.keys()]))]);
  const heard = writes.map(({ rows, counts }) => ({
    rows: rows.filter((row) => listening.has(row.userId)),
    counts: new Map([...counts].filter(([userId]) => listening.has(userId))),
  }));
  return inboxFrames(...heard);
}

/**
 * Each user's new rows and their new counts, as one pub/sub message per user — for the users who
 * listen when the writes are large (inboxFramesForListeners).
 */
export async function announceInboxRowsToListeners(frames: FramePublisher, ...writes: InboxWrite[]): Promise<void> {
  return frames.toUsers(await inboxFramesForListeners(frames, ...writes));
}

/** A user's frames, as one pub/sub message carries them. */
export type UserFrames = { userId: string; frames: LiveFrame[] };

/** The frames that announce writes: per user, the new rows in cursor order, then the new counts. */
export function inboxFrames(...writes: InboxWrite[]): UserFrames[] {
  const byUser = new Map<string, LiveFrame[]>();
  const framesOf = (userId: string) => byUser.get(userId) ?? byUser.set(userId, []).get(userId)!;
  for (const { rows } of writes) {
    for (const row of rows) framesOf(row.userId).push({ type: 'notification', data: presentNotification(row), cursor: row.seq.toString() });
  }
  for (const { counts } of writes) for (const [userId, userCounts] of counts) framesOf(userId).push(unreadCountFrame(userCounts));
  return [...byUser].map(([userId, list]) => ({ userId, frames: list }));
}

/** Marks in-app deliveries sent once their rows are announced; the events of those it changed, for the latency metric. */
export async function markInappSent(db: DbOrTx, pairs: DeliveryPairs): Promise<EventRef[]> {
  if (pairs.eventIds.length === 0) return [];
  const sent = await db.execute<{ tenant_id: string; event_id: string }>(markInappSentStatement(pairs));
  return sent.map((row) => ({ tenantId: row.tenant_id, id: row.event_id }));
}

/**
 * In-app deliveries whose content was refused (see renderInboxContents): recorded failed for
 * good, with the reason — a new row, as a recorded batch's people have none, or an older job's
 * pending row marked so. A row failed already is left alone, so a re-run counts nothing twice.
 * Returns `tenant_id, event_id` of each row it recorded.
 */
export function recordInappRefusedStatement(refused: RefusedRow[]): SQL {
  return sql`
    insert into deliveries as d (event_id, tenant_id, channel, destination, user_id, rule_id, priority, state, attempts, last_error, failed_at)
    select r.event_id, r.tenant_id, 'inapp', r.user_id, r.user_id, r.rule_id::uuid, r.priority, 'failed', 1, r.reason, now()
    from unnest(${sql.param(refused.map((r) => r.event.tenantId))}::text[], ${sql.param(refused.map((r) => r.event.id))}::text[],
                ${sql.param(refused.map((r) => r.userId))}::text[], ${sql.param(refused.map((r) => r.ruleId))}::text[],
                ${sql.param(refused.map((r) => r.priority))}::text[], ${sql.param(refused.map((r) => r.reason))}::text[])
      as r(tenant_id, event_id, user_id, rule_id, priority, reason)
    on conflict (tenant_id, event_id, channel, destination) do update
      set state = 'failed', failed_at = now(), updated_at = now(), attempts = d.attempts + 1, last_error = excluded.last_error
      where d.state = 'pending'
    returning d.tenant_id, d.event_id`;
}

/** The (event, user) pairs of in-app deliveries, as the statements that mark them read them. */
export type DeliveryPairs = Pick<InboxPairs, 'tenantIds' | 'eventIds' | 'userIds'>;

/**
 * The in-app deliveries of `pairs` as a FROM item of (id, state, tenant_id, event_id, user_id,
 * ord), ord being the pair's place in `pairs` from 1 and state the row's as the probe read it:
 * each pair probes the unique (tenant, event, channel, destination) index, in a subquery OFFSET 0
 * keeps of its own, which the planner cannot turn into a join. A read goes on from each pair
 * (unannouncedEarlierRows); an UPDATE takes the ids as inappDeliveryIds gives them, or — when it
 * needs a column of the pair, as a refusal needs its reason — joins on `d.id = f.id`.
 *
 * Statements that joined the pairs with deliveries left the plan to the statistics, which say
 * that almost no in-app delivery is pending or sent (nearly all are delivered): the planner
 * then read every pending row (a 10,000-person fan-out's in-app batches of 1,000 each read all
 * 10,000), or, while the table was small enough for a scan to look cheap (tens of thousands of
 * rows: a young deployment's, the bench's), scanned it and walked the pairs again for each row
 * it kept (the live receipts: 39 ms a flush at 1,000 events/s, more of Postgres's time than
 * routing). A LIMIT 1 on the probe let it expect a sequential scan to stop early; joining on
 * ctid lost a row changed meanwhile (its new version has another).
 */
export function inappDeliveriesOf(pairs: DeliveryPairs): SQL {
  return sql`(
    select found.id, found.state, r.tenant_id, r.event_id, r.user_id, r.ord
    from ${pairRows(pairs)}
    cross join lateral (
      select d.id, d.state from deliveries d
      where d.tenant_id = r.tenant_id and d.event_id = r.event_id and d.channel = 'inapp' and d.destination = r.user_id
      offset 0
    ) as found
  )`;
}

/**
 * The ids of the in-app deliveries of `pairs`, found as inappDeliveriesOf says, as one array for
 * an UPDATE's `d.id = any(…)`: the rows are fetched by primary key (a table of a few hundred
 * rows scanned once), and a row a concurrent statement changed meanwhile (the in-app worker
 * marking it sent as its receipt arrives) is found again by its id and its state rechecked.
 * Joined with the probes instead, the planner could put the table outside the nested loop and
 * run every probe again for each of its rows: on a young table (193 receipts against 200 sent
 * rows, 38,600 probes: 170 ms against 1.7), and with statistics that say nothing is pending
 * while a fan-out's rows are (a batch of 1,000 among 10,000 pending ran past the 10 s statement
 * timeout; 51 ms). The UPDATE's state test must not be one the pending rows' partial index
 * answers (see markInappSentStatement).
 */
export function inappDeliveryIds(pairs: DeliveryPairs): SQL {
  return sql`array(select f.id from ${inappDeliveriesOf(pairs)} as f)`;
}

/**
 * The ids of the inbox rows of `pairs`, for an UPDATE's `n.id = any(…)` (the live receipts):
 * each pair probes the unique (tenant, event, user) index in a subquery OFFSET 0 keeps of its
 * own, and the rows are then fetched by primary key, for the reasons inappDeliveryIds gives.
 */
export function inboxRowIds(pairs: DeliveryPairs): SQL {
  return sql`array(
    select found.id
    from ${pairRows(pairs)}
    cross join lateral (
      select n.id from notifications n
      where n.tenant_id = r.tenant_id and n.event_id = r.event_id and n.user_id = r.user_id
      offset 0
    ) as found)`;
}

/** `pairs` as a FROM item `r(tenant_id, event_id, user_id, ord)`, ord being each pair's place from 1. */
function pairRows(pairs: DeliveryPairs): SQL {
  return sql`unnest(${sql.param(pairs.tenantIds)}::text[], ${sql.param(pairs.eventIds)}::text[], ${sql.param(pairs.userIds)}::text[])
      with ordinality as r(tenant_id, event_id, user_id, ord)`;
}

/**
 * The UPDATE of markInappSent, returning `tenant_id, event_id`, to run on its own or inside a
 * larger statement. The state is tested as `(…) is true`, which means the same here but does not
 * match the predicate of the pending rows' partial index, keyed by time: given
 * `state = 'pending'`, the planner used that index for the ids and walked all of it once per id
 * (211 ms for a fan-out's batch of 1,000 among 10,000 pending rows, 51 ms by primary key).
 */
export function markInappSentStatement(pairs: DeliveryPairs): SQL {
  return sql`
    update deliveries d set state = 'sent', sent_at = now(), updated_at = now(), attempts = d.attempts + 1
    where d.id = any(${inappDeliveryIds(pairs)}) and (d.state = 'pending') is true
    returning d.tenant_id, d.event_id`;
}

/** A notification row as rawNotificationJson gives it: the content columns and the row's own. */
type RawNotification = Omit<InboxContent, 'key'> & {
  priority: Priority;
  id: string;
  user_id: string;
  seq: string;
  seen_at: string | null;
  read_at: string | null;
  archived_at: string | null;
  delivered_at: string | null;
  created_at: string;
};

/** A notification row as JSON, its 64-bit numbers as text so they survive JSON.parse. */
function rawNotificationJson(row: SQL): SQL {
  return sql`json_build_object(
    'id', ${row}.id::text, 'user_id', ${row}.user_id, 'seq', ${row}.seq::text, 'tenant_id', ${row}.tenant_id,
    'event_id', ${row}.event_id, 'type', ${row}.type, 'severity', ${row}.severity, 'priority', ${row}.priority,
    'title', ${row}.title, 'body', ${row}.body, 'url', ${row}.url, 'data', ${row}.data, 'actor', ${row}.actor,
    'seen_at', ${row}.seen_at, 'read_at', ${row}.read_at, 'archived_at', ${row}.archived_at,
    'delivered_at', ${row}.delivered_at, 'created_at', ${row}.created_at)`;
}

/** A row as a raw statement gives it (snake_case, JSON types) in the shape drizzle reads it. */
function notificationRow(raw: RawNotification): NotificationRow {
  return {
    id: BigInt(raw.id),
    userId: raw.user_id,
    seq: BigInt(raw.seq),
    tenantId: raw.tenant_id,
    eventId: raw.event_id,
    type: raw.type,
    severity: raw.severity,
    priority: raw.priority,
    title: raw.title,
    body: raw.body,
    url: raw.url,
    data: raw.data,
    actor: raw.actor,
    seenAt: raw.seen_at === null ? null : new Date(raw.seen_at),
    readAt: raw.read_at === null ? null : new Date(raw.read_at),
    archivedAt: raw.archived_at === null ? null : new Date(raw.archived_at),
    deliveredAt: raw.delivered_at === null ? null : new Date(raw.delivered_at),
    createdAt: new Date(raw.created_at),
  };
}
