import { z } from 'zod';
import { entityIdSchema, tenantIdSchema } from '../intake/eventEnvelope.ts';
import { CHANNELS, type Channel } from '../routing/channels.ts';
import { EVENT_PATTERN } from '../routing/eventPattern.ts';
import { prioritySchema } from '../routing/priority.ts';
import type { RecipientSpec, RuleDelivery } from '../routing/ruleSpec.ts';
import { severityInputSchema } from '../routing/severity.ts';

/** An exact event type or a pattern with `*` (SPEC §3.1). */
export const eventPatternSchema = z.string().regex(EVENT_PATTERN, 'must be 1–100 characters of A-Z a-z 0-9 . _ : - and * (any run of characters)');

const idList = (what: string) => z.array(entityIdSchema).min(1, `must name at least one ${what}`).max(1_000);

/** A dotted path of identifiers into event data: `participantIds`, `order.ownerId`. */
const dataPathSchema = z
  .string()
  .max(200)
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, 'must be a dotted path of identifiers, like participantIds or order.ownerId');

/** Who a rule reaches (SPEC §3.1), stored in a canonical form so the unique index compares what it means. */
export const recipientSpecSchema = z
  .discriminatedUnion(
    'kind',
    [
      z.object({ kind: z.literal('event') }).strict(),
      z.object({ kind: z.literal('users'), userIds: idList('user') }).strict(),
      z.object({ kind: z.literal('teams'), teamIds: idList('team') }).strict(),
      z.object({ kind: z.literal('role'), role: z.string().trim().min(1).max(100) }).strict(),
      z.object({ kind: z.literal('data'), path: dataPathSchema }).strict(),
    ],
    { error: 'must be one of event, users, teams, role, data' },
  )
  .transform((spec): RecipientSpec => {
    if (spec.kind === 'users') return { kind: 'users', userIds: [...new Set(spec.userIds)].sort() };
    if (spec.kind === 'teams') return { kind: 'teams', teamIds: [...new Set(spec.teamIds)].sort() };
    return spec;
  });

/** A rule's content: Handlebars sources of the title, body and url of what it produces. */
export const ruleContentSchema = z
  .object({ title: z.string().max(1_000).optional(), body: z.string().max(10_000).optional(), url: z.string().max(2_000).optional() })
  .strict()
  .refine((c) => Object.values(c).some((v) => v !== undefined && v !== ''), { message: 'must set at least one of title, body, url' });

/** 1–6 channels, stored sorted and distinct (SPEC §3.1). */
export const channelSetSchema = z
  .array(z.enum(CHANNELS))
  .min(1, 'must name at least one channel')
  .max(CHANNELS.length)
  .transform((list): Channel[] => [...new Set(list)].sort());

/** Lower-cased and deduplicated: routing sends one email per address, and addresses are compared that way. */
export const emailRecipientsSchema = z
  .array(z.string().trim().toLowerCase().pipe(z.email().max(320)))
  .max(100)
  .transform((list) => [...new Set(list)]);

/** Stored normalized, so ` High` and `high` are the same rule to the unique index. */
export const severityFilterSchema = severityInputSchema;

export { tenantIdSchema };

export const rulePrioritySchema = prioritySchema.nullable();

/** A rule's timed delivery (SPEC §4.1); a fallback needs `inapp` among the channels, checked with the channels. */
export const ruleDeliverySchema = z
  .object({
    fallback: z
      .object({
        channel: z.enum(['email', 'push']),
        afterSeconds: z.number().int().min(0).max(86_400),
        unless: z.enum(['seen', 'read', 'online']),
      })
      .strict()
      .optional(),
    digest: z
      .object({
        windowSeconds: z.number().int().min(10).max(604_800),
        key: dataPathSchema.optional(),
        maxItems: z.number().int().min(1).max(1_000).default(100),
      })
      .strict()
      .optional(),
  })
  .strict()
  .transform((delivery): RuleDelivery | null => (delivery.fallback || delivery.digest ? delivery : null));
