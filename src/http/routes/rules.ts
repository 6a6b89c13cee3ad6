import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { canAccessTenant, type TenantScope } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { rules } from '../../db/schema.ts';
import { badRequest, conflict, HttpError, notFound } from '../../errors.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { generateWebhookSecret } from '../../outbound/webhookSigning.ts';
import { CHANNELS, type Channel } from '../../routing/channels.ts';
import { EVENT_RECIPIENTS, type RuleContent, type RuleDelivery } from '../../routing/ruleSpec.ts';
import {
  channelSetSchema,
  emailRecipientsSchema,
  eventPatternSchema,
  recipientSpecSchema,
  ruleContentSchema,
  ruleDeliverySchema,
  rulePrioritySchema,
  severityFilterSchema,
  tenantIdSchema,
} from '../../rules/ruleInput.ts';
import { deleteRule, insertRule, updateRule, type RuleRow } from '../../rules/ruleStore.ts';
import { checkRuleContent } from '../../templates/ruleContent.ts';
import { describeProblems, type FieldProblem } from '../../validation.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { generatedIdSchema, parseOrThrow, pathParam } from '../params.ts';
import { assertTenantsExist, outboundUrlField } from './directoryCommon.ts';
import { assertTenantAccess, listQuerySchema, scopedTenantFilter } from './tenantScope.ts';

/** Field rules that depend on the channels, checked on the rule as it will be stored (after a PATCH is merged too). */
function channelFieldProblems(rule: { channels: readonly Channel[]; webhookUrl: string | null; emailRecipients: string[]; delivery: RuleDelivery | null }): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const has = (channel: Channel) => rule.channels.includes(channel);
  if (rule.delivery?.fallback && !has('inapp')) problems.push({ field: 'delivery.fallback', message: 'needs inapp among the channels: it follows up an unseen in-app notification' });
  if (rule.delivery?.digest && !DIGESTED_CHANNELS.some(has)) problems.push({ field: 'delivery.digest', message: `gathers ${DIGESTED_CHANNELS.join(', ')} messages; this rule sends none` });
  if (has('webhook') && !rule.webhookUrl) problems.push({ field: 'webhookUrl', message: 'is required for a webhook rule' });
  if (!has('webhook') && rule.webhookUrl) problems.push({ field: 'webhookUrl', message: 'is only for webhook rules' });
  if (!has('email') && rule.emailRecipients.length > 0) problems.push({ field: 'emailRecipients', message: 'is only for email rules' });
  return problems;
}

function assertValid(rule: Parameters<typeof channelFieldProblems>[0] & { content: RuleContent | null; eventType: string }): void {
  const problems = channelFieldProblems(rule);
  if (problems.length > 0) throw badRequest(describeProblems(problems), problems);
  if (!rule.content) return;
  // Content compiles and renders once with sample data, or the save says where it does not.
  const checked = checkRuleContent(rule.content, rule.eventType);
  if (checked.problems.length === 0) return;
  const message = checked.problems.map((p) => `${p.field}: ${p.line ? `line ${p.line}: ` : ''}${p.message}`).join('; ');
  if (checked.tooExpensive) throw new HttpError(422, 'template_too_expensive', message, checked.problems);
  throw badRequest(message, checked.problems);
}

/** SPEC §4.1: in-app rows and webhooks are never digested. */
const DIGESTED_CHANNELS: Channel[] = ['email', 'push', 'slack', 'teams'];

const DUPLICATE = 'an enabled rule for this tenant, event type, channels, severity filter and recipients already exists';

/**
 * The stored rule as the API shows it. `channel` is v1's single channel (the first of the set).
 * The signing secret is never part of it: it is shown once, on create.
 */
export function presentRule(row: RuleRow) {
  return {
    id: row.id,
    tenantId: row.tenantId,
    eventType: row.eventType,
    channel: row.channels[0] ?? null,
    channels: row.channels,
    severityFilter: row.severityFilter,
    enabled: row.enabled,
    emailRecipients: row.emailRecipients,
    webhookUrl: row.webhookUrl,
    recipients: row.recipients,
    priority: row.priority,
    content: row.content,
    delivery: row.delivery,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * POST /api/v1/rules and PATCH /api/v1/rules/:id (SPEC §3.1; a v1 body with one `channel` is
 * still one). A factory because the webhook URL is checked against the deployment's outbound policy.
 */
export function ruleBodies(allowHosts: AllowHosts) {
  const webhookUrlField = outboundUrlField('webhook', allowHosts).nullish();
  return {
    create: z
      .object({
        tenantId: tenantIdSchema,
        eventType: eventPatternSchema,
        channel: z.enum(CHANNELS).optional().meta({ description: 'v1: one channel; the same as `channels: [channel]`' }),
        channels: channelSetSchema.optional(),
        severityFilter: severityFilterSchema.default(''),
        enabled: z.boolean().default(true),
        emailRecipients: emailRecipientsSchema.default([]),
        webhookUrl: webhookUrlField,
        recipients: recipientSpecSchema.default(EVENT_RECIPIENTS),
        priority: rulePrioritySchema.optional(),
        content: ruleContentSchema.nullish(),
        delivery: ruleDeliverySchema.nullish(),
      })
      .superRefine((body, ctx) => {
        if (body.channel === undefined && body.channels === undefined) ctx.addIssue({ code: 'custom', path: ['channels'], message: 'is required (or v1’s channel)' });
        if (body.channel !== undefined && body.channels !== undefined) ctx.addIssue({ code: 'custom', path: ['channel'], message: 'give channels or channel, not both' });
      }),
    patch: z.object({
      tenantId: tenantIdSchema.optional(),
      channel: z.enum(CHANNELS).optional(),
      channels: channelSetSchema.optional(),
      eventType: eventPatternSchema.optional(),
      severityFilter: severityFilterSchema.optional(),
      enabled: z.boolean().optional(),
      emailRecipients: emailRecipientsSchema.optional(),
      webhookUrl: webhookUrlField,
      recipients: recipientSpecSchema.optional(),
      priority: rulePrioritySchema.optional(),
      content: ruleContentSchema.nullish(),
      delivery: ruleDeliverySchema.nullish(),
    }),
  };
}

export const ruleListQuery = listQuerySchema.extend({ eventType: z.string().max(100).optional(), channel: z.enum(CHANNELS).optional() });

/** SPEC §3.1, §7: admin routing rules, scoped to the caller's tenants. */
export function rulesRouter(deps: { auth: Authenticator; db: Db; allowHosts: AllowHosts }): Router {
  const router = Router();
  const { db } = deps;
  const bodies = ruleBodies(deps.allowHosts);

  /** Another tenant's rule is "not found", so ids do not leak across tenants; so is an id that cannot be a rule's. */
  async function findVisible(id: string, scope: TenantScope): Promise<RuleRow> {
    const [row] = generatedIdSchema.safeParse(id).success ? await db.select().from(rules).where(eq(rules.id, id)) : [];
    if (!row || !canAccessTenant(scope, row.tenantId)) throw notFound('rule');
    return row;
  }

  router.post('/api/v1/rules', deps.auth.admin, async (req, res) => {
    const { channel, channels: channelSet, ...body } = parseOrThrow(bodies.create, req.body);
    const channels = channelSet ?? [channel!];
    const values = { ...body, channels, webhookUrl: body.webhookUrl ?? null, content: body.content ?? null, priority: body.priority ?? null, delivery: body.delivery ?? null };
    assertValid(values);
    assertTenantAccess(principalOf(req).tenants, body.tenantId);
    await assertTenantsExist(db, [body.tenantId]);
    const secret = channels.includes('webhook') ? generateWebhookSecret() : null;
    const row = await insertRule(db, { ...values, secret });
    if (row === 'duplicate') throw conflict(DUPLICATE);
    res.status(201).json({ ...presentRule(row), ...(secret ? { secret } : {}) });
  });

  router.get('/api/v1/rules', deps.auth.admin, async (req, res) => {
    const query = parseOrThrow(ruleListQuery, req.query);
    const tenantIds = scopedTenantFilter(principalOf(req).tenants, query.tenantId);
    const filters: (SQL | undefined)[] = [
      tenantIds ? inArray(rules.tenantId, tenantIds) : undefined,
      query.eventType ? eq(rules.eventType, query.eventType) : undefined,
      query.channel ? sql`${query.channel} = any(${rules.channels})` : undefined,
    ];
    const rows = await db
      .select()
      .from(rules)
      .where(and(...filters))
      .orderBy(asc(rules.tenantId), asc(rules.createdAt), asc(rules.id))
      .limit(query.limit);
    res.json({ items: rows.map(presentRule) });
  });

  router.get('/api/v1/rules/:id', deps.auth.admin, async (req, res) => {
    res.json(presentRule(await findVisible(pathParam(req, 'id'), principalOf(req).tenants)));
  });

  router.patch('/api/v1/rules/:id', deps.auth.admin, async (req, res) => {
    const existing = await findVisible(pathParam(req, 'id'), principalOf(req).tenants);
    const patch = parseOrThrow(bodies.patch, req.body);
    const sameChannels = (list: readonly string[]) => list.length === existing.channels.length && list.every((c, i) => c === existing.channels[i]);
    const immutable: FieldProblem[] = [];
    if (patch.tenantId !== undefined && patch.tenantId !== existing.tenantId) immutable.push({ field: 'tenantId', message: 'cannot be changed; create a new rule instead' });
    if (patch.channel !== undefined && !sameChannels([patch.channel])) immutable.push({ field: 'channel', message: 'cannot be changed; create a new rule instead' });
    if (patch.channels !== undefined && !sameChannels(patch.channels)) immutable.push({ field: 'channels', message: 'cannot be changed; create a new rule instead' });
    if (immutable.length > 0) throw badRequest(describeProblems(immutable), immutable);
    const values = {
      eventType: patch.eventType ?? existing.eventType,
      severityFilter: patch.severityFilter ?? existing.severityFilter,
      enabled: patch.enabled ?? existing.enabled,
      emailRecipients: patch.emailRecipients ?? existing.emailRecipients,
      // Absent keeps a value; null clears it (refused below where the channels need it).
      webhookUrl: patch.webhookUrl === undefined ? existing.webhookUrl : patch.webhookUrl,
      recipients: patch.recipients ?? existing.recipients,
      priority: patch.priority === undefined ? existing.priority : patch.priority,
      content: patch.content === undefined ? existing.content : patch.content,
      delivery: patch.delivery === undefined ? existing.delivery : patch.delivery,
    };
    assertValid({ ...values, channels: existing.channels as Channel[] });
    const row = await updateRule(db, existing, values);
    if (row === 'duplicate') throw conflict(DUPLICATE);
    // Deleted between the read and the update.
    if (!row) throw notFound('rule');
    res.json(presentRule(row));
  });

  router.delete('/api/v1/rules/:id', deps.auth.admin, async (req, res) => {
    await deleteRule(db, await findVisible(pathParam(req, 'id'), principalOf(req).tenants));
    res.status(204).end();
  });

  return router;
}
