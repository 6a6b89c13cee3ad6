import { z } from 'zod';
import type { NotificationView } from '../../inbox/notificationView.ts';
import { entityIdSchema, tenantIdSchema } from '../../intake/eventEnvelope.ts';
import { preferencesSchema } from '../../routing/preferences.ts';
import { CHANNELS } from '../../routing/channels.ts';
import { PRIORITIES } from '../../routing/priority.ts';
import type { presentDelivery } from '../routes/deliveries.ts';
import type { presentRulePack } from '../routes/rulePacks.ts';
import type { presentRule } from '../routes/rules.ts';
import type { presentTeam } from '../routes/teams.ts';
import type { presentTemplate } from '../routes/templates.ts';
import type { presentTenant } from '../routes/tenants.ts';
import type { presentUser } from '../routes/users.ts';

/*
 * What the API answers. Requests are documented from the schemas the routes validate with;
 * answers are built by presenter functions, not parsed, so their shapes are written here, and
 * the compile-time checks at the bottom fail when a presenter and its shape disagree on fields.
 */

const timestamp = z.iso.datetime();
const timestamps = { createdAt: timestamp, updatedAt: timestamp };

export const listOf = (item: z.ZodType) => z.object({ items: z.array(item) });

export const preferencesMatrix = preferencesSchema.meta({ id: 'Preferences' });

export const tenantView = z.object({ id: tenantIdSchema, name: z.string(), ...timestamps }).meta({ id: 'Tenant' });

const personalUrl = z.string().nullable().optional().meta({ description: 'only for a service key scoped to every tenant (`*`); null when unset' });

export const userView = z
  .object({
    id: entityIdSchema,
    email: z.email(),
    name: z.string(),
    tenantIds: z.array(tenantIdSchema),
    hasSlackWebhookUrl: z.boolean().meta({ description: 'whether the user has a personal Slack URL' }),
    hasTeamsWebhookUrl: z.boolean().meta({ description: 'whether the user has a personal Teams URL' }),
    slackWebhookUrl: personalUrl,
    teamsWebhookUrl: personalUrl,
    preferences: preferencesMatrix,
    roles: z.record(z.string(), z.array(z.string())).meta({ description: 'role names per tenant' }),
    timezone: z.string().meta({ description: 'IANA time zone' }),
    quietHours: z.object({ start: z.string(), end: z.string() }).nullable().meta({ description: 'daily quiet hours (HH:MM) in the time zone, or null' }),
    ...timestamps,
  })
  .meta({
    id: 'User',
    description:
      'A personal chat URL is a credential of its owner: only a service key for every tenant sees the URLs; a tenant-scoped caller sees `hasSlackWebhookUrl`/`hasTeamsWebhookUrl`, and the user reads their own on `GET /api/v1/me/chat`.',
  });

export const teamView = z
  .object({
    id: entityIdSchema,
    tenantId: tenantIdSchema,
    name: z.string(),
    slackWebhookUrl: z.string().nullable(),
    teamsWebhookUrl: z.string().nullable(),
    memberIds: z.array(entityIdSchema),
    ...timestamps,
  })
  .meta({ id: 'Team' });

export const ruleView = z
  .object({
    id: z.uuid(),
    tenantId: tenantIdSchema,
    eventType: z.string().meta({ description: 'an exact type, or a pattern in which `*` matches any run of characters' }),
    channel: z.enum(CHANNELS).meta({ description: 'v1: the first of `channels`' }),
    channels: z.array(z.enum(CHANNELS)),
    severityFilter: z.string().meta({ description: "'' (every event) or the minimum severity" }),
    enabled: z.boolean(),
    emailRecipients: z.array(z.email()),
    webhookUrl: z.string().nullable(),
    recipients: z
      .object({ kind: z.enum(['event', 'users', 'teams', 'role', 'data']), userIds: z.array(z.string()).optional(), teamIds: z.array(z.string()).optional(), role: z.string().optional(), path: z.string().optional() })
      .meta({ description: 'who the rule reaches; webhooks ignore it' }),
    priority: z.enum(PRIORITIES).nullable().meta({ description: 'raises the priority of what the rule produces; null: none' }),
    content: z.object({ title: z.string().optional(), body: z.string().optional(), url: z.string().optional() }).nullable(),
    delivery: z
      .object({
        fallback: z.object({ channel: z.enum(['email', 'push']), afterSeconds: z.number().int(), unless: z.enum(['seen', 'read', 'online']) }).optional(),
        digest: z.object({ windowSeconds: z.number().int(), key: z.string().optional(), maxItems: z.number().int() }).optional(),
      })
      .nullable()
      .meta({ description: 'timed delivery (fallback, digest); null: none' }),
    ...timestamps,
  })
  .meta({ id: 'Rule' });

export const rulePackView = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    rules: z.array(ruleView.pick({ eventType: true, channels: true, severityFilter: true, recipients: true, priority: true, content: true, delivery: true })).meta({
      description: 'the rules the pack installs, as the rules API stores them',
    }),
    emailTemplates: z.array(z.string()).meta({ description: 'event types the pack ships email templates for, installed as global defaults where none is set' }),
  })
  .meta({ id: 'RulePack' });

export const packInstallView = z
  .object({
    installed: z.int().meta({ description: 'rules added to the tenant' }),
    skipped: z.int().meta({ description: 'rules the tenant already had (same pattern, channels, severity filter and recipients, enabled or not)' }),
    templatesAdded: z.int().meta({ description: 'email templates that became global defaults; a slot with a default keeps it' }),
  })
  .meta({ id: 'RulePackInstall' });

export const createdRuleView = ruleView
  .extend({ secret: z.string().startsWith('whsec_').optional().meta({ description: 'webhook rules only: the signing secret, shown on create only' }) })
  .meta({ id: 'CreatedRule' });

const optionalText = z.string().optional();

export const templateView = z
  .object({
    id: z.uuid(),
    version: z.int().min(1),
    active: z.boolean(),
    tenantId: tenantIdSchema.nullable().meta({ description: 'null for the global default' }),
    eventType: z.string(),
    channel: z.enum(CHANNELS),
    subject: optionalText,
    html: optionalText,
    text: optionalText,
    title: optionalText,
    body: optionalText,
    ...timestamps,
  })
  .meta({ id: 'Template', description: 'Email templates carry subject/html/text; in-app, push and chat templates title/body.' });

export const renderedView = z
  .union([z.object({ subject: z.string(), html: z.string(), text: z.string() }), z.object({ title: z.string(), body: z.string() })])
  .meta({ id: 'RenderedTemplate', description: 'subject/html/text for email, title/body for the other channels' });

export const testSendView = z.object({ to: z.email(), templateId: z.uuid(), version: z.int(), messageId: z.string() });

const maybeTimestamp = timestamp.nullable();

export const deliveryView = z
  .object({
    id: z.uuid().meta({
      description:
        'a stored delivery’s id (version 7); an in-app line whose record is an inbox row has a version 8 id carrying that row’s id, and a large fan-out’s person still to be written one carrying their in-app batch and place in it (it finds their delivery whatever it has become)',
    }),
    channel: z.enum(CHANNELS),
    destination: z.string().meta({ description: 'a user id, an address, `rule:<id>`, `team:<id>` or `user:<id>` — never a webhook URL' }),
    state: z.enum(['pending', 'scheduled', 'sent', 'delivered', 'failed', 'skipped']),
    attempts: z.int().min(0),
    lastError: z.string().nullable(),
    ...timestamps,
    sentAt: maybeTimestamp,
    deliveredAt: maybeTimestamp,
    failedAt: maybeTimestamp,
    notBefore: maybeTimestamp.meta({ description: 'a scheduled delivery is sent at this time, not before: quiet hours, a fallback’s wait, a digest’s window (SPEC §4.1)' }),
    digestId: z.uuid().nullable().meta({ description: 'the digest this delivery belongs to' }),
    carriedBy: z.uuid().nullable().meta({ description: 'a digest member: the delivery whose message carried it (its outcome is this one’s); null for the message itself and for every other delivery' }),
    attemptLog: z.array(
      z.object({ attempt: z.int(), startedAt: timestamp, durationMs: z.int(), statusCode: z.int().nullable(), outcome: z.string(), error: z.string().nullable() }),
    ),
  })
  .meta({ id: 'Delivery' });

export const retryView = z.object({ id: z.uuid(), state: z.literal('pending') });

export const notificationView = z
  .object({
    id: z.string().meta({ description: 'a 64-bit integer, as a string' }),
    eventId: z.string(),
    type: z.string(),
    tenantId: tenantIdSchema,
    severity: z.string().nullable(),
    priority: z.enum(PRIORITIES).meta({ description: 'the highest of the event’s priority and the priorities of the rules that reached this user' }),
    title: z.string(),
    body: z.string(),
    url: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
    actor: z.object({ id: z.string(), name: z.string() }).nullable().meta({ description: 'the event’s actor as the directory names them; null when unknown' }),
    actions: z
      .array(z.object({ label: z.string().max(40), url: z.string() }))
      .max(3)
      .meta({ description: 'from the event’s `data.actions`: at most 3, https or relative urls; anything else is left out' }),
    seenAt: timestamp.nullable().meta({ description: 'when it was on screen; reading marks seen too' }),
    readAt: timestamp.nullable(),
    archivedAt: timestamp.nullable().meta({ description: 'archived notifications leave the default list and every count' }),
    createdAt: timestamp,
  })
  .meta({ id: 'Notification' });

export const notificationPageView = z.object({
  items: z.array(notificationView),
  nextCursor: z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last page' }),
});

export const summaryView = z.object({
  total: z.int().min(0),
  unread: z.int().min(0),
  unseen: z.int().min(0),
}).meta({ description: 'archived notifications are not counted' });

export const updatedView = z.object({ updated: z.int().min(0) });

export const publishView = z.object({ id: z.string(), status: z.enum(['accepted', 'duplicate']) });

export const batchResultView = z.object({
  results: z.array(
    z.object({
      id: z.string(),
      status: z.enum(['accepted', 'duplicate', 'rejected']),
      error: z.string().optional().meta({ description: 'rejected events only: names the field' }),
    }),
  ),
});

export const healthView = z.object({ status: z.literal('ok') });

const check = z.enum(['ok', 'down']);
export const readinessView = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({ postgres: check, redis: check }).meta({ description: 'which dependency answers; why one does not is logged, never shown' }),
});

// Compile-time only: every field a presenter returns is documented, and every required documented field is returned.
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];
type Documents<Shape extends z.ZodType, Presented> = [Exclude<KnownKeys<Presented>, keyof z.output<Shape>>, Exclude<RequiredKeys<z.output<Shape>>, keyof Presented>] extends [never, never]
  ? true
  : { undocumented: Exclude<KnownKeys<Presented>, keyof z.output<Shape>>; notReturned: Exclude<RequiredKeys<z.output<Shape>>, keyof Presented> };
type Holds<T extends true> = T;
export type PresenterChecks = [
  Holds<Documents<typeof tenantView, ReturnType<typeof presentTenant>>>,
  Holds<Documents<typeof userView, ReturnType<typeof presentUser>>>,
  Holds<Documents<typeof teamView, ReturnType<typeof presentTeam>>>,
  Holds<Documents<typeof ruleView, ReturnType<typeof presentRule>>>,
  Holds<Documents<typeof rulePackView, ReturnType<typeof presentRulePack>>>,
  Holds<Documents<typeof templateView, ReturnType<typeof presentTemplate>>>,
  Holds<Documents<typeof deliveryView, ReturnType<typeof presentDelivery>>>,
  Holds<Documents<typeof notificationView, NotificationView>>,
];
