import { and, asc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { canAccessTenant, type TenantScope } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { rules } from '../../db/schema.ts';
import { badRequest, conflict, isUniqueViolation, notFound } from '../../errors.ts';
import { eventEnvelopeSchema, tenantIdSchema } from '../../intake/eventEnvelope.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { generateWebhookSecret } from '../../outbound/webhookSigning.ts';
import { severityInputSchema } from '../../routing/severity.ts';
import { describeProblems, type FieldProblem } from '../../validation.ts';
import { generatedIdSchema, parseOrThrow, pathParam } from '../params.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { assertTenantsExist, outboundUrlField } from './directoryCommon.ts';
import { assertTenantAccess, listQuerySchema, scopedTenantFilter } from './tenantScope.ts';

type RuleRow = typeof rules.$inferSelect;

const RULE_CHANNELS = ['email', 'webhook'] as const;

/** Stored normalized, so ` High` and `high` are the same rule to the unique index. */
const severityFilterField = severityInputSchema;

/** Lower-cased and deduplicated: routing sends one email per address, and addresses are compared that way. */
const emailRecipientsField = z
  .array(z.string().trim().toLowerCase().pipe(z.email().max(320)))
  .max(100)
  .transform((list) => [...new Set(list)]);

/** Field rules that depend on the channel, checked on the rule as it will be stored (after a PATCH is merged too). */
function channelFieldProblems(rule: { channel: string; webhookUrl: string | null; emailRecipients: string[] }): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (rule.channel === 'webhook' && !rule.webhookUrl) problems.push({ field: 'webhookUrl', message: 'is required for a webhook rule' });
  if (rule.channel === 'webhook' && rule.emailRecipients.length > 0) problems.push({ field: 'emailRecipients', message: 'is only for email rules' });
  if (rule.channel === 'email' && rule.webhookUrl) problems.push({ field: 'webhookUrl', message: 'is only for webhook rules' });
  return problems;
}

function assertValidForChannel(rule: Parameters<typeof channelFieldProblems>[0]): void {
  const problems = channelFieldProblems(rule);
  if (problems.length > 0) throw badRequest(describeProblems(problems), problems);
}

/**
 * Turns Postgres' unique_violation into the 409 of a duplicate rule. Two concurrent creates both
 * pass any check made before the insert; only the unique index can decide, so the error is the
 * answer. Drizzle wraps the driver's error, so the code sits on a cause.
 */
function rethrowDuplicate(err: unknown): never {
  if (isUniqueViolation(err)) throw conflict('a rule for this tenant, event type, channel and severity filter already exists');
  throw err;
}

/** The stored rule as the API shows it. The signing secret is never part of it: it is shown once, on create. */
export function presentRule(row: RuleRow) {
  return {
    id: row.id,
    tenantId: row.tenantId,
    eventType: row.eventType,
    channel: row.channel,
    severityFilter: row.severityFilter,
    enabled: row.enabled,
    emailRecipients: row.emailRecipients,
    webhookUrl: row.webhookUrl,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * POST /api/v1/rules and PATCH /api/v1/rules/:id. A factory because the webhook URL is checked
 * against the deployment's outbound policy.
 */
export function ruleBodies(allowHosts: AllowHosts) {
  const webhookUrlField = outboundUrlField('webhook', allowHosts).nullish();
  return {
    create: z.object({
      tenantId: tenantIdSchema,
      eventType: eventEnvelopeSchema.shape.type,
      channel: z.enum(RULE_CHANNELS),
      severityFilter: severityFilterField.default(''),
      enabled: z.boolean().default(true),
      emailRecipients: emailRecipientsField.default([]),
      webhookUrl: webhookUrlField,
    }),
    patch: z.object({
      tenantId: tenantIdSchema.optional(),
      channel: z.enum(RULE_CHANNELS).optional(),
      eventType: eventEnvelopeSchema.shape.type.optional(),
      severityFilter: severityFilterField.optional(),
      enabled: z.boolean().optional(),
      emailRecipients: emailRecipientsField.optional(),
      webhookUrl: webhookUrlField,
    }),
  };
}

export const ruleListQuery = listQuerySchema.extend({ eventType: z.string().max(100).optional(), channel: z.enum(RULE_CHANNELS).optional() });

/** SPEC §7: admin routing rules, scoped to the caller's tenants. */
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
    const body = parseOrThrow(bodies.create, req.body);
    const webhookUrl = body.webhookUrl ?? null;
    assertValidForChannel({ ...body, webhookUrl });
    assertTenantAccess(principalOf(req).tenants, body.tenantId);
    await assertTenantsExist(db, [body.tenantId]);
    const secret = body.channel === 'webhook' ? generateWebhookSecret() : null;
    const [row] = await db
      .insert(rules)
      .values({ ...body, webhookUrl, secret })
      .returning()
      .catch(rethrowDuplicate);
    res.status(201).json({ ...presentRule(row!), ...(secret ? { secret } : {}) });
  });

  router.get('/api/v1/rules', deps.auth.admin, async (req, res) => {
    const query = parseOrThrow(ruleListQuery, req.query);
    const tenantIds = scopedTenantFilter(principalOf(req).tenants, query.tenantId);
    const filters: (SQL | undefined)[] = [
      tenantIds ? inArray(rules.tenantId, tenantIds) : undefined,
      query.eventType ? eq(rules.eventType, query.eventType) : undefined,
      query.channel ? eq(rules.channel, query.channel) : undefined,
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
    const immutable = (['tenantId', 'channel'] as const).filter((field) => patch[field] !== undefined && patch[field] !== existing[field]);
    if (immutable.length > 0) {
      const problems = immutable.map((field) => ({ field, message: 'cannot be changed; create a new rule instead' }));
      throw badRequest(describeProblems(problems), problems);
    }
    const values = {
      eventType: patch.eventType ?? existing.eventType,
      severityFilter: patch.severityFilter ?? existing.severityFilter,
      enabled: patch.enabled ?? existing.enabled,
      emailRecipients: patch.emailRecipients ?? existing.emailRecipients,
      // Absent keeps the URL; null clears it (refused below for a webhook rule).
      webhookUrl: patch.webhookUrl === undefined ? existing.webhookUrl : patch.webhookUrl,
    };
    assertValidForChannel({ ...values, channel: existing.channel });
    const [row] = await db
      .update(rules)
      .set({ ...values, updatedAt: sql`now()` })
      .where(eq(rules.id, existing.id))
      .returning()
      .catch(rethrowDuplicate);
    // Deleted between the read and the update.
    if (!row) throw notFound('rule');
    res.json(presentRule(row));
  });

  router.delete('/api/v1/rules/:id', deps.auth.admin, async (req, res) => {
    const existing = await findVisible(pathParam(req, 'id'), principalOf(req).tenants);
    await db.delete(rules).where(eq(rules.id, existing.id));
    res.status(204).end();
  });

  return router;
}
