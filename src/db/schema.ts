import { sql } from 'drizzle-orm';
import type { Priority } from '../routing/priority.ts';
import type { RecipientSpec, RuleContent, RuleDelivery } from '../routing/ruleSpec.ts';
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  unique,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

export type Branding = {
  logoUrl?: string;
  primaryColor?: string;
  secondaryColor?: string;
  companyName?: string;
  footerText?: string;
  replyTo?: string;
};

export type Preferences = Record<string, boolean>;

export const tenants = pgTable('tenants', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  branding: jsonb('branding').$type<Branding>().notNull().default({}),
  /** Bumped with every change to the tenant's rules: a router that caches them checks it in its directory read (src/routing/ruleCache.ts). */
  rulesVersion: bigint('rules_version', { mode: 'bigint' }).notNull().default(sql`0`),
  ...timestamps,
});

export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    tenantIds: text('tenant_ids').array().notNull().default(sql`'{}'::text[]`),
    slackWebhookUrl: text('slack_webhook_url'),
    teamsWebhookUrl: text('teams_webhook_url'),
    preferences: jsonb('preferences').$type<Preferences>().notNull().default({}),
    /** Free-form role names per tenant (SPEC §1): `{ "<tenantId>": ["admin", …] }`, what `role` rules resolve. */
    roles: jsonb('roles').$type<Record<string, string[]>>().notNull().default({}),
    /** IANA time zone, and daily quiet hours in it (null: none), for timed delivery. */
    timezone: text('timezone').notNull().default('UTC'),
    quietHours: jsonb('quiet_hours').$type<{ start: string; end: string } | null>(),
    ...timestamps,
  },
  (t) => [
    index('users_tenant_ids_idx').using('gin', t.tenantIds),
    // jsonb_path_ops: a role holder is looked up as one path, {"<tenant>": ["<role>"]}. The default
    // operator class indexes keys and values apart, so a lookup intersected the list of every user
    // of the tenant with that of every holder of a role of that name in any tenant.
    index('users_roles_idx').using('gin', t.roles.op('jsonb_path_ops')),
  ],
);

export const teams = pgTable(
  'teams',
  {
    id: text('id').primaryKey(),
    tenantId: text('tenant_id').notNull(),
    name: text('name').notNull(),
    slackWebhookUrl: text('slack_webhook_url'),
    teamsWebhookUrl: text('teams_webhook_url'),
    /** Users of the team's tenant, what `teams` rules resolve. */
    memberIds: text('member_ids').array().notNull().default(sql`'{}'::text[]`),
    ...timestamps,
  },
  (t) => [index('teams_tenant_idx').on(t.tenantId)],
);

/**
 * The durable record of every accepted event. An event's id is its publisher's idempotency key
 * within its tenant (SPEC §2): the same id in another tenant is another event, so every
 * reference to an event carries both. The key leads with the id so that an id alone (an
 * operator's timeline lookup across every tenant) is an index lookup too. A row is written once
 * and never updated: whether the router has finished an event lives in `event_outbox`.
 */
export const events = pgTable(
  'events',
  {
    id: text('id').notNull(),
    tenantId: text('tenant_id').notNull(),
    type: text('type').notNull(),
    severity: text('severity'),
    actorId: text('actor_id'),
    envelope: jsonb('envelope').$type<Record<string, unknown>>().notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'date' }).notNull(),
    acceptedAt: timestamp('accepted_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.tenantId] }),
    // The retention sweep (src/retention/) finds events past RETENTION_DAYS by age. BRIN: rows
    // arrive in accepted_at order, so a summary per range of pages finds the old ones, and an
    // insert into the newest pages writes nothing to it — a B-tree took an insertion and its WAL
    // for every event, for a sweep that runs hourly.
    index('events_accepted_idx').using('brin', t.acceptedAt),
  ],
);

/**
 * The events stored and not yet routed: a row is inserted with its event, in the same
 * statement, and deleted once the router has announced the event (its frames went out). The
 * outbox sweeper re-enqueues what stays here too long. A table of its own, not a column of
 * `events`: marking a column would rewrite the whole event row (its envelope) and every index
 * of it, once per event; deleting a narrow row here rewrites nothing.
 */
export const eventOutbox = pgTable(
  'event_outbox',
  {
    tenantId: text('tenant_id').notNull(),
    id: text('id').notNull(),
    acceptedAt: timestamp('accepted_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('event_outbox_accepted_idx').on(t.acceptedAt)],
);

/**
 * One inbox row: one user × one event. `seq` is the user's stream cursor: numbered per user in
 * the writing transaction, under the lock of the user's `inbox_heads` row, so a user's rows
 * commit in `seq` order however many processes write inboxes (see src/inbox/inboxWriter.ts).
 */
export const notifications = pgTable(
  'notifications',
  {
    id: bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: text('user_id').notNull(),
    seq: bigint('seq', { mode: 'bigint' }).notNull(),
    tenantId: text('tenant_id').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    severity: text('severity'),
    title: text('title').notNull(),
    body: text('body').notNull().default(''),
    url: text('url'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    priority: text('priority').$type<Priority>().notNull().default('normal'),
    /** Who did what the notification is about, as the directory named them when it was written. */
    actor: jsonb('actor').$type<{ id: string; name: string } | null>(),
    /** Seen: it was on screen; read: opened or acknowledged (reading marks seen too); archived: out of the inbox and its counts. */
    seenAt: timestamp('seen_at', { withTimezone: true, mode: 'date' }),
    readAt: timestamp('read_at', { withTimezone: true, mode: 'date' }),
    archivedAt: timestamp('archived_at', { withTimezone: true, mode: 'date' }),
    /**
     * When a live stream first carried the row (SPEC §4: an in-app delivery is `delivered` then).
     * The row is its in-app delivery's record: a notification written while its event was routed
     * has no delivery row of its own (see src/deliveries/timeline.ts). No index reads it, so
     * setting it is a HOT update.
     */
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('notifications_event_user_uq').on(t.tenantId, t.eventId, t.userId),
    // Pages, replay and the newest cursor all walk one user's rows in seq order.
    uniqueIndex('notifications_user_seq_uq').on(t.userId, t.seq),
    index('notifications_user_unread_idx').on(t.userId).where(sql`${t.readAt} is null`),
    // The retention sweep deletes read or archived rows by age; unread ones are never its business.
    index('notifications_retention_idx').on(t.createdAt).where(sql`${t.readAt} is not null or ${t.archivedAt} is not null`),
  ],
);

/** A large fan-out's in-app batch as the router hands it over: its recipients, in sorted order, with what routing decided for each. */
export type InappRecipients = { userIds: string[]; priorities: Priority[]; ruleIds: (string | null)[] };

/**
 * A large fan-out's in-app batch (INAPP_BATCH_SIZE recipients, src/queues/catalog.ts), recorded by
 * the router in the statement that routes its event, and written — its inbox rows inserted and
 * announced — by the in-app worker, which then sets `written_at`. One row stands for a thousand
 * in-app deliveries: a pending delivery row each, inserted by the router and updated by the
 * worker, was the most of Postgres's work for a fan-out, on the path of its frames. While
 * `written_at` is null the timeline shows the batch's people without an inbox row as pending,
 * and the outbox sweeper re-adds its job if Redis lost it.
 */
export const inappBatches = pgTable(
  'inapp_batches',
  {
    id: bigint('id', { mode: 'bigint' }).primaryKey().generatedAlwaysAsIdentity(),
    tenantId: text('tenant_id').notNull(),
    eventId: text('event_id').notNull(),
    /** The batch's place among its event's, as its job id carries it (inappJobId). */
    batch: integer('batch').notNull(),
    /** The most urgent of its recipients' priorities: its job's. */
    priority: text('priority').$type<Priority>().notNull(),
    recipients: jsonb('recipients').$type<InappRecipients>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    writtenAt: timestamp('written_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    uniqueIndex('inapp_batches_event_batch_uq').on(t.tenantId, t.eventId, t.batch),
    // The outbox sweeper walks unwritten batches oldest first, looking for jobs Redis lost.
    index('inapp_batches_unwritten_idx').on(t.createdAt, t.id).where(sql`${t.writtenAt} is null`),
    // The retention sweep, by age, as on deliveries.
    index('inapp_batches_retention_idx').using('brin', t.createdAt),
  ],
);

/** The last `seq` handed out per user; its row lock orders the commits of one user's inbox writes. */
export const inboxHeads = pgTable('inbox_heads', {
  userId: text('user_id').primaryKey(),
  seq: bigint('seq', { mode: 'bigint' }).notNull(),
});

/**
 * A user's unread and unseen counts per tenant (archived rows not counted), kept by the same statement that changes a row's state (see
 * src/inbox/inboxCounts.ts), so it cannot drift and a new row's count costs no COUNT over the
 * inbox. `version` grows with every change: of two count frames that cross on their way to a
 * stream, the stream keeps the newer.
 */
export const inboxCounts = pgTable(
  'inbox_counts',
  {
    userId: text('user_id').notNull(),
    tenantId: text('tenant_id').notNull(),
    unread: integer('unread').notNull(),
    unseen: integer('unseen').notNull().default(0),
    version: bigint('version', { mode: 'bigint' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.tenantId] })],
);

export const rules = pgTable(
  'rules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id').notNull(),
    /** An exact type, or a pattern in which `*` matches any run of characters (SPEC §3.1). */
    eventType: text('event_type').notNull(),
    /** Sorted and distinct, so the unique index compares sets. */
    channels: text('channels').array().notNull(),
    severityFilter: text('severity_filter').notNull().default(''),
    enabled: boolean('enabled').notNull().default(true),
    emailRecipients: text('email_recipients').array().notNull().default(sql`'{}'::text[]`),
    webhookUrl: text('webhook_url'),
    secret: text('secret'),
    recipients: jsonb('recipients').$type<RecipientSpec>().notNull().default({ kind: 'event' }),
    priority: text('priority').$type<Priority>(),
    content: jsonb('content').$type<RuleContent>(),
    /** Timed delivery (SPEC §4.1): fallback and digest settings. */
    delivery: jsonb('delivery').$type<RuleDelivery>(),
    ...timestamps,
  },
  (t) => [
    // SPEC §3.1: an enabled rule of a tenant is unique on its pattern, channel set, severity filter and recipients.
    uniqueIndex('rules_unique_route_uq').on(t.tenantId, t.eventType, t.channels, t.severityFilter, t.recipients).where(sql`${t.enabled}`),
    index('rules_tenant_idx').on(t.tenantId),
  ],
);

/** One attempt-tracked send: event × channel × destination. Unique, so re-routing never adds a second. */
export const deliveries = pgTable(
  'deliveries',
  {
    /**
     * A UUIDv7 (drizzle/0012): time first, so each new row's key lands at the right edge of the
     * primary key's B-tree, as a sequence's would. A random v4 key sends every insert to a page of
     * its own across the whole index: once the index outgrows shared buffers each costs a page
     * fetched and one written back, and after every checkpoint a full-page image in the WAL.
     */
    id: uuid('id').primaryKey().default(sql`herald_uuidv7()`),
    eventId: text('event_id').notNull(),
    tenantId: text('tenant_id').notNull(),
    channel: text('channel').notNull(),
    destination: text('destination').notNull(),
    userId: text('user_id'),
    ruleId: uuid('rule_id'),
    teamId: text('team_id'),
    state: text('state').notNull().default('pending'),
    /** The notification's priority for a person's delivery, the event's (raised by its rules) for the others: orders jobs, sets Web Push Urgency. */
    priority: text('priority').$type<Priority>().notNull().default('normal'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
    failedAt: timestamp('failed_at', { withTimezone: true, mode: 'date' }),
    /** A `scheduled` delivery is sent at this time, not before (SPEC §4.1): quiet hours, a fallback's wait, a digest's window. */
    notBefore: timestamp('not_before', { withTimezone: true, mode: 'date' }),
    /** A fallback send: skipped at its time when the in-app notification was `seen` (or `read`) by then; `online` was decided when it was planned. */
    fallbackUnless: text('fallback_unless').$type<'seen' | 'read' | 'online'>(),
    /** The digest this delivery belongs to (SPEC §4.1). */
    digestId: uuid('digest_id'),
    /** For a digest's member: the delivery whose message carries it (the digest's first). Null for the carrier itself and every other delivery. */
    carriedBy: uuid('carried_by'),
    /**
     * The group job that sends this delivery (src/deliveries/deliveryGroups.ts), while it is the
     * group's: routing sets it on a webhook's due delivery, and a member the group hands to a job
     * of its own (to retry it, or to wait) is released to null first. Null for every other row.
     */
    jobGroup: text('job_group'),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('deliveries_event_channel_destination_uq').on(t.tenantId, t.eventId, t.channel, t.destination),
    // The outbox sweeper walks pending deliveries oldest first, looking for jobs Redis lost.
    index('deliveries_pending_idx').on(t.updatedAt, t.id).where(sql`${t.state} = 'pending'`),
    // ... and scheduled ones past their time, whose wake-up job Redis may have lost.
    index('deliveries_scheduled_idx').on(t.notBefore, t.id).where(sql`${t.state} = 'scheduled' and ${t.carriedBy} is null`),
    index('deliveries_carried_by_idx').on(t.carriedBy).where(sql`${t.carriedBy} is not null`),
    // A group job reads its members still to send; the outbox sweeper finds their job by the column.
    index('deliveries_job_group_idx').on(t.jobGroup).where(sql`${t.jobGroup} is not null and ${t.state} = 'pending'`),
    // The retention sweep, by age; BRIN for the reason given on events_accepted_idx (two and more
    // deliveries an event). A row updated to a new page keeps its old created_at there, which
    // only widens that range's summary: the sweep reads a few more pages, never misses a row.
    index('deliveries_retention_idx').using('brin', t.createdAt),
  ],
);

/**
 * A digest (SPEC §4.1): the window a rule's messages to one destination gather in, per value of
 * the rule's key. At most one is open per (rule, channel, destination, key value); it closes at
 * `closesAt` or when it holds `maxItems`, and its first delivery (`carrierId`) carries the message.
 */
export const digests = pgTable(
  'digests',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: text('tenant_id').notNull(),
    ruleId: uuid('rule_id').notNull(),
    channel: text('channel').notNull(),
    destination: text('destination').notNull(),
    keyValue: text('key_value').notNull(),
    state: text('state').$type<'open' | 'closed'>().notNull().default('open'),
    count: integer('count').notNull(),
    maxItems: integer('max_items').notNull(),
    openedAt: timestamp('opened_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    closesAt: timestamp('closes_at', { withTimezone: true, mode: 'date' }).notNull(),
    carrierId: uuid('carrier_id').notNull(),
  },
  (t) => [
    uniqueIndex('digests_open_uq').on(t.ruleId, t.channel, t.destination, t.keyValue).where(sql`${t.state} = 'open'`),
    index('digests_retention_idx').on(t.closesAt).where(sql`${t.state} = 'closed'`),
  ],
);

export const deliveryAttempts = pgTable(
  'delivery_attempts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: uuid('delivery_id').notNull(),
    attempt: integer('attempt').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    statusCode: integer('status_code'),
    outcome: text('outcome').notNull(),
    error: text('error'),
  },
  (t) => [index('delivery_attempts_delivery_idx').on(t.deliveryId, t.attempt), index('delivery_attempts_retention_idx').on(t.startedAt)],
);

export const pushSubscriptions = pgTable(
  'push_subscriptions',
  {
    userId: text('user_id').notNull(),
    endpoint: text('endpoint').notNull(),
    p256dh: text('p256dh').notNull(),
    auth: text('auth').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.endpoint] })],
);

/** A template slot: one (tenant or global default, event type, channel). Its text lives in versions. */
export const templates = pgTable(
  'templates',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** null: the global default for every tenant without its own. */
    tenantId: text('tenant_id'),
    eventType: text('event_type').notNull(),
    channel: text('channel').notNull(),
    ...timestamps,
  },
  (t) => [unique('templates_slot_uq').on(t.tenantId, t.eventType, t.channel).nullsNotDistinct()],
);

/** Every update is a new version; exactly one is active, older ones are kept for audit and rollback. */
export const templateVersions = pgTable(
  'template_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    templateId: uuid('template_id').notNull(),
    version: integer('version').notNull(),
    active: boolean('active').notNull().default(true),
    subject: text('subject'),
    html: text('html'),
    text: text('text'),
    title: text('title'),
    body: text('body'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('template_versions_version_uq').on(t.templateId, t.version),
    uniqueIndex('template_versions_one_active_uq').on(t.templateId).where(sql`${t.active}`),
  ],
);
