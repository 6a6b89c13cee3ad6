import { sql, type SQL } from 'drizzle-orm';
import { chunksOf } from '../chunks.ts';
import { GENERIC_PLAN_SETTINGS, type Db } from '../db/client.ts';
import {
  inboxFramesForListeners,
  inboxWriteOf,
  inboxWriteStatement,
  nothingWritten,
  unannouncedEarlierRows,
  type DeliveryPairs,
  type InboxPairs,
  type InboxWrite,
  type InboxWriteResult,
} from '../inbox/inboxWriter.ts';
import { eventKey, publicView, recipientKey, type EventEnvelope, type EventRef } from '../intake/eventEnvelope.ts';
import { prepareInboxRows, type InboxContent, type RefusedRow } from '../inbox/inboxContent.ts';
import type { NotificationRow } from '../inbox/notificationView.ts';
import { observeDelivery } from '../metrics/processMetrics.ts';
import { inappBatchesOf, inappBatchJob, recordBatchesStatement, type InappBatch } from '../inbox/inappBatches.ts';
import { deliveryGroupJob, withDeliveryGroups } from '../deliveries/deliveryGroups.ts';
import {
  deliveryJobId,
  INLINE_INAPP_MAX,
  jobPriority,
  queueForChannel,
  type DeliveryQueue,
  type Queues,
} from '../queues/catalog.ts';
import type { FramePublisher } from '../realtime/liveFrames.ts';
import { joinDigests, type DigestMember, type DigestWake } from '../scheduling/digestWindows.ts';
import type { TemplateSource } from '../templates/templateRenderer.ts';
import type { Channel } from './channels.ts';
import { loadDirectory } from './directory.ts';
import { planDeliveries, type DeliveryPlan } from './planDeliveries.ts';
import { DEFAULT_PRIORITY, type Priority } from './priority.ts';
import type { RuleCache } from './ruleCache.ts';

export type RouteDeps = {
  db: Db;
  /**
   * Connections whose sessions plan each statement once (GENERIC_PLAN_SETTINGS), for the
   * directory read and the routing write of a pass whose arrays are short
   * (GENERIC_PLAN_MAX_ELEMENTS). Postgres planned both anew at nearly every pass: at 200 events/s
   * the write cost 0.53 ms of planning against 0.2–0.5 of running it, the read 0.18 against 0.09
   * (pg_stat_statements). A longer array's statement runs on `db`, planned for its length: a
   * generic plan assumes about ten elements, and one made so for a fan-out of 10,000 rows was
   * slower. Both statements read by key (the write probes a unique index per event, and the rest
   * of it is keyed inserts and upserts), which these sessions keep to whatever the tables' size.
   * Without genericPlanDb every statement runs on `db`.
   */
  genericPlanDb?: Db;
  queues: Queues;
  frames: FramePublisher;
  /** The tenants' rules, kept by the router (see createRuleCache). */
  rules: RuleCache;
  /** In-app templates, for the inbox rows the router writes itself. */
  templates: TemplateSource;
  /** Which of these users hold a live stream now, for `online` fallbacks (SPEC §4.1); without it, nobody does. */
  presence?: (userIds: string[]) => Promise<Set<string>>;
};

/** The longest array a statement of a pass may carry and still run on a generic plan (RouteDeps.genericPlanDb). */
export const GENERIC_PLAN_MAX_ELEMENTS = 100;

/** Where a statement of a pass whose longest array holds `elements` runs. */
function passDb({ db, genericPlanDb }: RouteDeps, elements: number): Db {
  return genericPlanDb && elements <= GENERIC_PLAN_MAX_ELEMENTS ? genericPlanDb : db;
}

/** Rows per INSERT: bounds one statement's parameters; a large fan-out's chunks are written in parallel. */
const INSERT_CHUNK = 2_500;

/** The columns recordPlans inserts, each sent as one text array. */
const DELIVERY_INSERT_COLUMNS = ['event_id', 'tenant_id', 'channel', 'destination', 'user_id', 'rule_id', 'team_id', 'state', 'priority', 'last_error', 'not_before', 'fallback_unless', 'job_group'] as const;
type DeliveryInsert = Record<(typeof DELIVERY_INSERT_COLUMNS)[number], string | null>;

/** A stored event as routing needs it; `announced` once its tenant frame went out (it was routed before). */
export type StoredEvent = { event: EventEnvelope; acceptedAt: Date; announced: boolean };
type Routed = StoredEvent & { plan: DeliveryPlan; inappUsers: string[] };
/** A delivery that needs a job: pending, or scheduled (then its job waits until `not_before`); its group's job when it is in one. */
type PendingDelivery = { id: string; tenant_id: string; event_id: string; channel: Exclude<Channel, 'inapp'>; priority: Priority; not_before: Date | string | null; job_group: string | null };

/** Why an `online` fallback is not needed (SPEC §4.1). */
const ONLINE_SKIP = 'the person had a live stream open when the notification was written';

/** What is left of a pass once its frames are out: marking its events routed (finishRouting). */
export type RoutingFinish = { events: EventRef[] };

/**
 * Routes a group of stored events in the round trips of one (routePass), then marks them
 * routed (finishRouting). Returns the plan of each event, in order; null for one not stored.
 * `carried` is by eventKey.
 */
export async function routeEvents(deps: RouteDeps, refs: EventRef[], carried: ReadonlyMap<string, StoredEvent> = new Map()): Promise<(DeliveryPlan | null)[]> {
  const { plans, finish } = await routePass(deps, refs, carried);
  await finishRouting(deps.db, [finish]);
  return plans;
}

/**
 * The part of routing a live frame waits for: load the events (unless the intake handed them
 * over, `carried`) and what their decisions read, plan each (a pure function), then, at once,
 * record the plans as deliveries and write the inbox rows of small fan-outs; announce those
 * rows and the events live, and enqueue the other channels' jobs (and large fan-outs' in-app
 * batches). What is left — marking the group routed — is returned, for finishRouting, which a
 * router runs for several passes at once, off the path of the next pass. Every step is
 * idempotent (unique deliveries and inbox rows, deterministic job ids), so a retry or the
 * outbox sweeper can run it again.
 */
export async function routePass(
  deps: RouteDeps,
  refs: EventRef[],
  carried: ReadonlyMap<string, StoredEvent> = new Map(),
): Promise<{ plans: (DeliveryPlan | null)[]; finish: RoutingFinish }> {
  const { db } = deps;
  const stored = await loadEvents(db, refs, carried);
  if (stored.length === 0) return { plans: refs.map(() => null), finish: { events: [] } };

  const directory = await loadDirectory((elements) => passDb(deps, elements), deps.rules, stored.map((s) => s.event));
  const now = new Date();
  const routed: Routed[] = stored.map((s) => {
    const plan = planDeliveries({ event: s.event, users: directory.usersFor(s.event), teams: directory.teamsFor(s.event), rules: directory.rulesFor(s.event), now });
    const inappUsers = plan.deliveries.filter((d) => d.channel === 'inapp').map((d) => d.destination);
    return { ...s, plan, inappUsers };
  });

  const inline = routed.filter((r) => r.inappUsers.length > 0 && r.inappUsers.length <= INLINE_INAPP_MAX);
  const { contents, pairs: inlinePairs, refused } = await prepareInboxRows(
    deps.templates,
    inline.map((r) => {
      const rulesById = new Map(directory.rulesFor(r.event).map((rule) => [rule.id, rule]));
      const recipients = r.plan.deliveries
        .filter((d) => d.channel === 'inapp')
        .map((d) => {
          const rule = d.ruleId ? rulesById.get(d.ruleId) : undefined;
          return { userId: d.destination, priority: d.priority, ruleId: d.ruleId ?? null, contentRule: rule?.content ? { id: rule.id, content: rule.content } : null };
        });
      return { event: r.event, actorName: directory.actorNameOf(r.event), recipients };
    }),
  );

  const batches = routed.filter((r) => r.inappUsers.length > INLINE_INAPP_MAX).flatMap(({ event, plan }) => inappBatchesOf(event, plan.deliveries.filter((d) => d.channel === 'inapp')));
  const online = await onlineForFallbacks(deps, routed);
  const [{ pending, inbox, refusedRecorded }, digestWakes] = await Promise.all([
    recordPlans(deps, routed, online, { contents, pairs: inlinePairs, refused }, batches),
    joinDigests(db, digestMembers(routed)),
  ]);
  const acceptedAt = new Map(routed.map((r) => [eventKey(r.event), r.acceptedAt]));
  // An inline row written now is its in-app delivery, sent; a re-run's conflicting pairs are not counted again.
  for (const row of inbox.rows) observeDelivery('inapp', 'sent', acceptedAt.get(eventKey({ tenantId: row.tenantId, id: row.eventId })));
  for (let n = 0; n < refusedRecorded; n++) observeDelivery('inapp', 'failed');
  const earlier = await unannouncedEarlierRows(db, ...rowsOfUnroutedEvents(routed, inlinePairs, inbox), { pendingDelivery: false });

  // A re-run (the sweeper replacing jobs Redis lost) re-adds what is missing, but the event was announced already.
  const eventFrames = routed
    .filter((r) => !r.announced)
    .map(({ event }) => ({ tenantId: event.tenantId, frame: { type: 'event' as const, data: publicView(event) } }));
  await Promise.all([
    // Asking who listens (a large pass) need not hold back the jobs below. Every event frame
    // goes out: a tenant's stream must hear of every event published after it opened (SPEC §6).
    inboxFramesForListeners(deps.frames, inbox, earlier).then((users) => deps.frames.publish({ users, tenants: eventFrames })),
    batches.length > 0 ? deps.queues.inapp.addBulk(batches.map(inappBatchJob)) : undefined,
    enqueueDeliveries(deps.queues, pending, digestWakes),
  ]);

  const plans = new Map(routed.map((r) => [eventKey(r.event), r.plan]));
  return {
    plans: refs.map((ref) => plans.get(eventKey(ref)) ?? null),
    finish: { events: routed.map((r) => ({ tenantId: r.event.tenantId, id: r.event.id })) },
  };
}

/** The stored events, in the order given (the order their users see them in); only those not carried are read. */
async function loadEvents(db: Db, refs: EventRef[], carried: ReadonlyMap<string, StoredEvent>): Promise<StoredEvent[]> {
  const unique = [...new Map(refs.map((ref) => [eventKey(ref), ref])).values()];
  const toRead = unique.filter((ref) => !carried.has(eventKey(ref)));
  const rows =
    toRead.length === 0
      ? []
      : await db.execute<{ envelope: EventEnvelope; accepted_at: string; routed: boolean }>(sql`
          select envelope, accepted_at::text,
                 not exists (select 1 from event_outbox o where o.tenant_id = events.tenant_id and o.id = events.id) as routed
          from events
          where (tenant_id, id) in (select * from unnest(${sql.param(toRead.map((r) => r.tenantId))}::text[], ${sql.param(toRead.map((r) => r.id))}::text[]))`);
  const byKey = new Map<string, StoredEvent>(carried);
  for (const row of rows) byKey.set(eventKey(row.envelope), { event: row.envelope, acceptedAt: new Date(row.accepted_at), announced: row.routed });
  return unique.flatMap((ref) => byKey.get(eventKey(ref)) ?? []);
}

/**
 * Records every plan as delivery rows (pending, or skipped with the reason) and returns the
 * pending non-in-app ones, which need a job: those inserted now, and — for a re-run, whose rows
 * exist already and are not returned by ON CONFLICT — those an earlier run left pending. Sent
 * or failed deliveries are left alone, so a late re-run cannot send twice.
 *
 * An in-app delivery gets no row of its own. An inline one's inbox row, written by the same
 * statement, is its record (the timeline reads it as the in-app line, src/deliveries/timeline.ts)
 * — a second row per recipient was a fifth of Postgres's work per event; only a refused one,
 * which has no inbox row, is recorded, as failed with the reason. A large fan-out's are recorded
 * as its in-app batches (src/inbox/inappBatches.ts), a row per thousand recipients, until the
 * in-app worker writes their inbox rows.
 *
 * The inline inbox rows are written by the same statement (insertInboxRows' parts): a pass
 * costs one round trip, one transaction and one Postgres backend for both, where two in
 * parallel cost twice the wake-ups. In that statement the deliveries and batches are inserted
 * only once the inbox heads are locked, so every writer takes its locks heads first, in user
 * order, and two passes routing the same event (a retry, the sweeper) cannot deadlock.
 */
async function recordPlans(
  deps: RouteDeps,
  routed: Routed[],
  online: ReadonlySet<string>,
  inline: { contents: InboxContent[]; pairs: InboxPairs; refused: RefusedRow[] },
  batches: InappBatch[],
): Promise<{ pending: PendingDelivery[]; inbox: InboxWrite; refusedRecorded: number }> {
  const refusal = new Map(inline.refused.map((r) => [recipientKey(r.event, r.userId), r.reason]));
  /** The state a delivery is recorded in, and why when it is not sent; null for an in-app one, which its inbox row or batch records. */
  const stateOf = (event: EventEnvelope, d: DeliveryPlan['deliveries'][number]): { state: string; reason: string | null } | null => {
    if (d.channel === 'inapp') {
      const reason = refusal.get(recipientKey(event, d.destination));
      return reason ? { state: 'failed', reason } : null;
    }
    if (d.fallbackUnless === 'online' && online.has(d.userId!)) return { state: 'skipped', reason: ONLINE_SKIP };
    return { state: d.notBefore ? 'scheduled' : 'pending', reason: null };
  };
  const rows: DeliveryInsert[] = withDeliveryGroups(routed.flatMap(({ event, plan }) => [
    // Digested deliveries are recorded with their windows (joinDigests).
    ...plan.deliveries.flatMap((d) => {
      const recorded = d.digest ? null : stateOf(event, d);
      if (!recorded) return [];
      const { state, reason } = recorded;
      return {
        event_id: event.id,
        tenant_id: event.tenantId,
        channel: d.channel,
        destination: d.destination,
        user_id: d.userId ?? null,
        rule_id: d.ruleId ?? null,
        team_id: d.teamId ?? null,
        state,
        priority: d.priority,
        last_error: reason,
        not_before: d.notBefore?.toISOString() ?? null,
        fallback_unless: d.fallbackUnless ?? null,
        job_group: null,
      } satisfies DeliveryInsert;
    }),
    // A skip is about a person, not a channel; it sits on the in-app line of the timeline, where the recipient would have been.
    ...plan.skipped.map((s) => ({
      event_id: event.id,
      tenant_id: event.tenantId,
      channel: 'inapp',
      destination: s.userId,
      user_id: s.userId,
      rule_id: null,
      team_id: null,
      state: 'skipped',
      priority: event.priority ?? DEFAULT_PRIORITY,
      last_error: s.reason,
      not_before: null,
      fallback_unless: null,
      job_group: null,
    })),
  ]));
  const tenantIds = routed.map((r) => r.event.tenantId);
  const eventIds = routed.map((r) => r.event.id);
  const chunks = chunksOf(rows, INSERT_CHUNK);
  if (chunks.length === 0) chunks.push([]);
  const inbox = inline.pairs.eventIds.length > 0 ? inboxWriteStatement(inline.contents, inline.pairs) : null;
  // Chunks go out at once, on separate connections: each is idempotent, so a partial failure is retried whole.
  // Each column is one text array: a large fan-out's rows as JSON took Postgres two to three times as long.
  const results = await Promise.all(
    chunks.map(async (chunk, i) => {
      const withInbox = i === 0 ? inbox : null;
      const withBatches = i === 0 && batches.length > 0;
      const elements = Math.max(chunk.length, routed.length, withInbox ? inline.pairs.eventIds.length : 0, withBatches ? batches.length : 0);
      const [result] = await passDb(deps, elements).execute<{ pending: PendingDelivery[]; refused: number } & Partial<InboxWriteResult>>(sql`
        with ${withInbox ? sql`${withInbox.ctes},` : sql``}
        ${withBatches ? sql`batches as (${recordBatchesStatement(batches, withInbox ? withInbox.locked : null)}),` : sql``}
        recorded as (
          insert into deliveries (event_id, tenant_id, channel, destination, user_id, rule_id, team_id, state, priority, last_error, not_before, fallback_unless, job_group,
                                  attempts, failed_at)
          select r.event_id, r.tenant_id, r.channel, r.destination, r.user_id, r.rule_id::uuid, r.team_id, r.state, r.priority, r.last_error, r.not_before::timestamptz, r.fallback_unless,
                 r.job_group, case when r.state = 'failed' then 1 else 0 end, case when r.state = 'failed' then now() end
          from unnest(${sql.join(
            DELIVERY_INSERT_COLUMNS.map((column) => sql`${sql.param(chunk.map((row) => row[column]))}::text[]`),
            sql`, `,
          )}) as r(event_id, tenant_id, channel, destination, user_id, rule_id, team_id, state, priority, last_error, not_before, fallback_unless, job_group)
          ${withInbox ? sql`where ${withInbox.locked}` : sql``}
          on conflict (tenant_id, event_id, channel, destination) do nothing
          returning id, tenant_id, event_id, channel, state, priority, not_before, job_group
        ),
        pending as (
          select id, tenant_id, event_id, channel, priority, not_before, job_group from recorded where channel <> 'inapp' and state in ('pending', 'scheduled')
          ${
            // The statement's snapshot predates its own inserts, so this reads only an earlier run's rows
            // (a digest's carrier among them: its members have no job of their own).
            i === 0
              ? sql`union all ${earlierPendingDeliveries(tenantIds, eventIds)}`
              : sql``
          }
        )
        select (select coalesce(json_agg(pending), '[]') from pending) as pending,
               (select count(*)::int from recorded where channel = 'inapp' and state = 'failed') as refused
               ${withInbox ? sql`, ${withInbox.columns}` : sql``}
      `);
      return result!;
    }),
  );
  const pending = results.flatMap((r) => r.pending).sort((a, b) => a.event_id.localeCompare(b.event_id) || a.id.localeCompare(b.id));
  return {
    pending,
    // The first chunk's statement wrote the inbox rows, when there were any.
    inbox: inbox ? inboxWriteOf(results[0] as InboxWriteResult, inline.contents) : nothingWritten(),
    refusedRecorded: results.reduce((sum, r) => sum + r.refused, 0),
  };
}

/**
 * The deliveries of these events that an earlier run left waiting for a job (pending, or
 * scheduled and not carried by a digest), in-app ones aside, as `id, tenant_id, event_id,
 * channel, priority, not_before, job_group`. Each event probes the unique (tenant, event, channel,
 * destination) index for the channels below 'inapp' and those above it — every channel but
 * in-app, as two ranges the index can seek — and OFFSET 0 keeps the probes a subquery the
 * planner cannot turn into a join, so the read costs the same whatever the table's statistics
 * say and never walks an event's in-app rows. Filtering the events' rows by state left the
 * plan to the statistics: on a table never analyzed it read every pending delivery of every
 * event (30,000 pending webhooks, a receiver down: 7–11 ms a pass against ~0.2), and with
 * statistics all of a fan-out's 10,000 in-app rows to keep its few others (~2.9 ms against
 * 0.03). A pass of three events costs ~0.04 ms against ~0.02 (one probe per channel: ~0.08).
 */
export function earlierPendingDeliveries(tenantIds: string[], eventIds: string[]): SQL {
  const waiting = sql`tenant_id = e.tenant_id and event_id = e.event_id and (state = 'pending' or (state = 'scheduled' and carried_by is null))`;
  const columns = sql`id, tenant_id, event_id, channel, priority, not_before, job_group`;
  return sql`
    select d.* from (select distinct * from unnest(${sql.param(tenantIds)}::text[], ${sql.param(eventIds)}::text[])) as e(tenant_id, event_id)
    cross join lateral (
      select ${columns} from deliveries where ${waiting} and channel < 'inapp'
      union all
      select ${columns} from deliveries where ${waiting} and channel > 'inapp'
      offset 0
    ) as d`;
}

/**
 * One job per group of deliveries (src/deliveries/deliveryGroups.ts) and per delivery in none,
 * on its channel's queue, urgent ones first; a scheduled one's job waits until its time. Job ids
 * are the groups' and the deliveries', so a re-run adds nothing. A digest that filled up wakes
 * its carrier at once, including a carrier whose job already waits for the window's end.
 */
async function enqueueDeliveries(queues: Queues, pending: PendingDelivery[], digestWakes: DigestWake[]): Promise<void> {
  type Job = { name: string; data: { deliveryId: string; eventId: string }; opts: { jobId: string; priority?: number; delay?: number } };
  const byQueue = new Map<DeliveryQueue, Job[]>();
  // One job for each group, whose members share its priority.
  const groups = new Map(pending.flatMap((p) => (p.job_group === null ? [] : [[p.job_group, p.priority] as const])));
  const wakes = [
    ...pending
      .filter((p) => p.job_group === null)
      .map((p) => ({ id: p.id, eventId: p.event_id, channel: p.channel, priority: p.priority, notBefore: p.not_before === null ? null : new Date(p.not_before) })),
    ...digestWakes,
  ];
  const now = Date.now();
  for (const { id, eventId, channel, priority, notBefore } of wakes) {
    const queue = queueForChannel(channel);
    const delay = notBefore ? notBefore.getTime() - now : 0;
    const jobs = byQueue.get(queue) ?? [];
    jobs.push({ name: channel, data: { deliveryId: id, eventId }, opts: { jobId: deliveryJobId(id), ...jobPriority(priority), ...(delay > 0 && { delay }) } });
    byQueue.set(queue, jobs);
  }
  await Promise.all([
    ...[...byQueue].map(([queue, jobs]) => queues[queue].addBulk(jobs)),
    groups.size > 0 ? queues.webhookGroup.addBulk([...groups].map(([group, priority]) => deliveryGroupJob(group, priority))) : undefined,
  ]);
  const due = digestWakes.filter((wake) => wake.notBefore.getTime() <= now);
  await Promise.all(
    due.map(async ({ id, channel }) => {
      const job = await queues[queueForChannel(channel)].getJob(deliveryJobId(id));
      if (job && (await job.isDelayed())) await job.promote();
    }),
  );
}

/** The users of `online` fallbacks who hold a live stream now: their fallback is skipped (SPEC §4.1). */
async function onlineForFallbacks(deps: RouteDeps, routed: Routed[]): Promise<Set<string>> {
  const userIds = [...new Set(routed.flatMap((r) => r.plan.deliveries.flatMap((d) => (d.fallbackUnless === 'online' ? [d.userId!] : []))))];
  if (userIds.length === 0 || !deps.presence) return new Set();
  return deps.presence(userIds);
}

/** The planned deliveries that go into digests, as joinDigests records them. */
function digestMembers(routed: Routed[]): DigestMember[] {
  return routed.flatMap(({ event, plan }) =>
    plan.deliveries.flatMap((d) =>
      d.digest && d.channel !== 'inapp' && d.channel !== 'webhook'
        ? [{ tenantId: event.tenantId, eventId: event.id, channel: d.channel, destination: d.destination, userId: d.userId ?? null, ruleId: d.ruleId ?? null, priority: d.priority, digest: d.digest }]
        : [],
    ),
  );
}

/**
 * After the frames are out: the events become routed — they leave the outbox — for any number
 * of passes in one statement. Until then a crash leaves them unrouted, so a retry (or the
 * sweeper) announces their inbox rows again (see rowsOfUnroutedEvents) rather than leaving an
 * open stream without them.
 */
export async function finishRouting(db: Db, finishes: RoutingFinish[]): Promise<void> {
  const events = finishes.flatMap((f) => f.events);
  if (events.length === 0) return;
  await db.execute(routedMarkStatement(events));
}

/**
 * finishRouting's statement: these events leave the outbox. Each is found by its key, then
 * deleted where it lies (its ctid): joined with the list instead, the table was read whole —
 * by a sequential scan, or without one by a scan of its whole key index — and OFFSET 0 keeps
 * each probe a subquery the planner cannot turn into that join.
 */
export function routedMarkStatement(events: EventRef[]): SQL {
  return sql`
    delete from event_outbox
    where ctid = any(array(
      select o.ctid from unnest(${sql.param(events.map((e) => e.tenantId))}::text[], ${sql.param(events.map((e) => e.id))}::text[]) as k(tenant_id, id)
      cross join lateral (select ctid from event_outbox where tenant_id = k.tenant_id and id = k.id offset 0) as o))`;
}

/**
 * The session a router marks events routed in. Its commits need not wait for the disk: the mark
 * is written only after the routing write's own durable commit, and one a Postgres crash loses
 * leaves the events unrouted, which the sweeper routes again, adding nothing. Its statement is
 * planned once, without sequential scans: the outbox is a queue, every row deleted moments after
 * it is written, so between two vacuums its pages fill with dead rows and its statistics
 * describe whatever it held when last analyzed. Planned from those, the mark read the whole
 * table, every dead row with it, once per statement — in the bench's intake scenario an eighth of
 * Postgres's time in statements, most of it while a backlog drained.
 */
export const ROUTED_MARK_SETTINGS = { ...GENERIC_PLAN_SETTINGS, synchronous_commit: 'off' };

/**
 * The inline pairs of the events not routed yet and the rows this pass wrote for them, for
 * unannouncedEarlierRows: an event is marked routed only after its frames went out, so every
 * row of an unrouted event that this pass did not write is one an earlier run never announced.
 */
function rowsOfUnroutedEvents(routed: Routed[], pairs: InboxPairs, inbox: InboxWrite): [DeliveryPairs, NotificationRow[]] {
  const unrouted = new Set(routed.filter((r) => !r.announced).map((r) => eventKey(r.event)));
  const kept: DeliveryPairs = { tenantIds: [], eventIds: [], userIds: [] };
  pairs.eventIds.forEach((id, i) => {
    if (!unrouted.has(eventKey({ tenantId: pairs.tenantIds[i]!, id }))) return;
    kept.tenantIds.push(pairs.tenantIds[i]!);
    kept.eventIds.push(id);
    kept.userIds.push(pairs.userIds[i]!);
  });
  return [kept, inbox.rows.filter((row) => unrouted.has(eventKey({ tenantId: row.tenantId, id: row.eventId })))];
}
