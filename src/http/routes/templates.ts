import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { canAccessTenant, type TenantScope } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { composeEmail } from '../../email/composeEmail.ts';
import type { Mailer } from '../../email/mailer.ts';
import { badRequest, DeliveryFailure, forbidden, HttpError, notFound, PermanentDeliveryError } from '../../errors.ts';
import { tenantIdSchema } from '../../intake/eventEnvelope.ts';
import { loadBrand } from '../../templates/branding.ts';
import type { EmailContent, TemplateFields } from '../../templates/content.ts';
import {
  channelSchema,
  checkRender,
  checkTemplate,
  checkTemplateKind,
  describeTemplateProblems,
  eventTypeSchema,
  previewContext,
  templateFieldsSchema,
  type TemplateCheck,
} from '../../templates/templateInput.ts';
import { loadTemplate, type TemplatesChange } from '../../templates/templateRenderer.ts';
import {
  addTemplateVersion,
  createTemplate,
  getTemplate,
  listTemplates,
  listTemplateVersions,
  TemplateSlotTaken,
  type StoredTemplate,
} from '../../templates/templateStore.ts';
import type { LimitDecision, SlidingWindowLimiter } from '../../slidingWindowLimit.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { generatedIdSchema, parseOrThrow, pathParam } from '../params.ts';
import { assertTenantsExist } from './directoryCommon.ts';
import { assertTenantAccess, listQuerySchema, scopedTenantFilter } from './tenantScope.ts';

/** What the template and branding routes need beyond the database: a relay for test-sends, and a way to tell every instance to drop its cache. */
export type TemplateApiDeps = {
  mailer: Mailer;
  /** Tells every instance to drop its cached templates and brands; never throws. */
  announceChange(change: TemplatesChange): Promise<void>;
  /** Counts test-sends per tenant (see TEST_SEND_LIMIT); throws when Redis cannot say. */
  testSendLimit: SlidingWindowLimiter;
};

/**
 * SPEC §7.1: a test-send relays a tenant's HTML from the platform's sender to any address, so a
 * tenant gets a few per minute (across every API instance), not a spam cannon.
 */
export const TEST_SEND_LIMIT = { limit: 10, windowSeconds: 60 };

type Deps = { auth: Authenticator; db: Db; templates: TemplateApiDeps };

export const templateCreateBody = templateFieldsSchema.extend({ tenantId: tenantIdSchema.nullable(), eventType: eventTypeSchema, channel: channelSchema });
// A new version may repeat the slot's identity (clients often resend the whole object); it may not change it.
export const templateVersionBody = templateFieldsSchema.extend({ tenantId: tenantIdSchema.nullish(), eventType: eventTypeSchema.optional(), channel: channelSchema.optional() });
export const templatePreviewBody = z.object({
  tenantId: tenantIdSchema.nullable(),
  eventType: eventTypeSchema,
  channel: channelSchema,
  data: z.record(z.string(), z.unknown()).nullish(),
  template: templateFieldsSchema.nullish(),
});
export const templateTestSendBody = z.object({
  to: z.email().max(320),
  data: z.record(z.string(), z.unknown()).nullish(),
  /** For a global template: whose branding to render with. */
  tenantId: tenantIdSchema.nullish(),
});
export const templateListQuery = listQuerySchema.extend({ eventType: z.string().max(100).optional(), channel: channelSchema.optional() });

const TEST_SEND_TIMEOUT_MS = 20_000;

/** The stored template as the API shows it; the fields its channel does not use are left out. */
export function presentTemplate(row: StoredTemplate) {
  const fields = Object.fromEntries((['subject', 'html', 'text', 'title', 'body'] as const).filter((f) => row[f] !== null).map((f) => [f, row[f]]));
  return { id: row.id, version: row.version, active: row.active, tenantId: row.tenantId, eventType: row.eventType, channel: row.channel, ...fields, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

const fieldsOf = (body: TemplateFields): TemplateFields => ({ subject: body.subject, html: body.html, text: body.text, title: body.title, body: body.body });

/** Template input as SPEC §7 answers it when refused: 422 template_too_expensive past the render budget, else 400 naming the field. */
function orRefusal<T>(check: TemplateCheck<T>): T {
  if (check.ok) return check.value;
  const message = describeTemplateProblems(check.problems);
  if (check.tooExpensive) throw new HttpError(422, 'template_too_expensive', message, check.problems);
  throw badRequest(message, check.problems);
}

/**
 * Global defaults (tenantId null) apply to every tenant, so changing one needs a credential for
 * every tenant (a `*` service key, or an admin token whose tenants include `*`). Tenant-scoped
 * admins may read them, preview them and override them for their own tenants.
 */
function assertMayChange(scope: TenantScope, tenantId: string | null): void {
  if (tenantId === null) {
    if (!scope.all) throw forbidden('global templates (tenantId null) need a credential for every tenant');
    return;
  }
  assertTenantAccess(scope, tenantId);
}

/** SPEC §7: versioned Handlebars templates, previews and test-sends. */
export function templatesRouter(deps: Deps): Router {
  const router = Router();
  const { db } = deps;

  /** A template the caller may see; another tenant's is a 404, so ids do not reveal what others have. */
  async function visibleTemplate(req: Request): Promise<StoredTemplate> {
    const id = pathParam(req, 'id');
    const row = generatedIdSchema.safeParse(id).success ? await getTemplate(db, id) : null;
    if (!row || (row.tenantId !== null && !canAccessTenant(principalOf(req).tenants, row.tenantId))) throw notFound('template');
    return row;
  }

  router.get('/api/v1/templates', deps.auth.admin, async (req, res) => {
    const query = parseOrThrow(templateListQuery, req.query);
    const tenantIds = scopedTenantFilter(principalOf(req).tenants, query.tenantId);
    const rows = await listTemplates(db, { tenantIds, eventType: query.eventType, channel: query.channel, limit: query.limit });
    res.json({ items: rows.map(presentTemplate) });
  });

  router.post('/api/v1/templates', deps.auth.admin, async (req, res) => {
    const body = parseOrThrow(templateCreateBody, req.body);
    assertMayChange(principalOf(req).tenants, body.tenantId);
    orRefusal(checkTemplate(orRefusal(checkTemplateKind(body.channel)), fieldsOf(body), body.eventType));
    if (body.tenantId !== null) await assertTenantsExist(db, [body.tenantId]);
    try {
      const row = await createTemplate(db, { tenantId: body.tenantId, eventType: body.eventType, channel: body.channel }, fieldsOf(body));
      await deps.templates.announceChange({ kind: 'template', tenantId: row.tenantId });
      res.status(201).json(presentTemplate(row));
    } catch (err) {
      if (!(err instanceof TemplateSlotTaken)) throw err;
      const path = `/api/v1/templates/${err.existingId}/versions`;
      throw new HttpError(409, 'conflict', `${err.message}; add a version with POST ${path}`, [{ field: 'id', id: err.existingId, versions: path }]);
    }
  });

  router.get('/api/v1/templates/:id', deps.auth.admin, async (req, res) => {
    res.json(presentTemplate(await visibleTemplate(req)));
  });

  router.get('/api/v1/templates/:id/versions', deps.auth.admin, async (req, res) => {
    const template = await visibleTemplate(req);
    res.json({ items: (await listTemplateVersions(db, template.id)).map(presentTemplate) });
  });

  router.post('/api/v1/templates/:id/versions', deps.auth.admin, async (req, res) => {
    const template = await visibleTemplate(req);
    assertMayChange(principalOf(req).tenants, template.tenantId);
    const body = parseOrThrow(templateVersionBody, req.body);
    for (const key of ['tenantId', 'eventType', 'channel'] as const) {
      if (body[key] !== undefined && body[key] !== template[key]) throw badRequest(`${key}: a version cannot move the template; create a new one`, [{ field: key, message: 'must match the template' }]);
    }
    orRefusal(checkTemplate(orRefusal(checkTemplateKind(template.channel)), fieldsOf(body), template.eventType));
    const row = await addTemplateVersion(db, template.id, fieldsOf(body));
    if (!row) throw notFound('template');
    await deps.templates.announceChange({ kind: 'template', tenantId: row.tenantId });
    res.status(201).json(presentTemplate(row));
  });

  router.post('/api/v1/templates/preview', deps.auth.admin, async (req, res) => {
    const body = parseOrThrow(templatePreviewBody, req.body);
    if (body.tenantId !== null) assertTenantAccess(principalOf(req).tenants, body.tenantId);
    const kind = orRefusal(checkTemplateKind(body.channel));
    const template = body.template ? orRefusal(checkTemplate(kind, fieldsOf(body.template), body.eventType, ['template'])) : await loadTemplate(db, body.tenantId, body.eventType, body.channel);
    const { brand } = await loadBrand(db, body.tenantId);
    const context = previewContext('evt_preview', body.eventType, body.data ?? null, { tenantId: body.tenantId, brand });
    res.json(orRefusal(checkRender(template, context, body.template ? ['template'] : [])));
  });

  router.post('/api/v1/templates/:id/test-send', deps.auth.admin, async (req, res) => {
    const template = await visibleTemplate(req);
    const scope = principalOf(req).tenants;
    assertMayChange(scope, template.tenantId);
    const body = parseOrThrow(templateTestSendBody, req.body);
    if (template.channel !== 'email') throw badRequest('test-send is for email templates', [{ field: 'id', message: `is a ${template.channel} template` }]);
    const tenantId = template.tenantId ?? body.tenantId ?? null;
    if (tenantId !== null) assertTenantAccess(scope, tenantId);

    const loaded = await loadBrand(db, tenantId);
    const eventId = `test_${randomUUID()}`;
    const context = previewContext(eventId, template.eventType, body.data ?? null, { tenantId, brand: loaded.brand, user: { id: null, name: null, email: body.to } });
    const content = orRefusal(checkRender(orRefusal(checkTemplate('email', fieldsOf(template), template.eventType)), context)) as EmailContent;
    await consumeTestSend(deps.templates.testSendLimit, tenantId);
    const { mailer } = deps.templates;
    const message = composeEmail({
      from: mailer.from,
      to: { name: '', address: body.to },
      replyTo: loaded.replyTo,
      content,
      eventId,
      tenantId: tenantId ?? '',
      headers: { 'X-Herald-Test': 'true', 'X-Herald-Template-Id': template.id, 'X-Herald-Template-Version': String(template.version) },
    });
    try {
      const sent = await mailer.send(message, AbortSignal.timeout(TEST_SEND_TIMEOUT_MS));
      res.status(202).json({ to: body.to, templateId: template.id, version: template.version, messageId: sent.messageId });
    } catch (err) {
      if (!(err instanceof DeliveryFailure)) throw err;
      if (err instanceof PermanentDeliveryError) throw new HttpError(422, 'email_rejected', err.message);
      throw new HttpError(502, 'smtp_unavailable', err.message);
    }
  });

  return router;
}

/** One test-send of the tenant's (a global template's without a tenant share one count), or a 429 saying when the next may go. */
async function consumeTestSend(limit: SlidingWindowLimiter, tenantId: string | null): Promise<void> {
  let decision: LimitDecision;
  try {
    decision = await limit(tenantId ?? '(global)');
  } catch {
    throw new HttpError(503, 'unavailable', 'cannot count test-sends right now; retry later', [], { 'Retry-After': '5' });
  }
  if (!decision.allowed) {
    const { limit: most, windowSeconds } = TEST_SEND_LIMIT;
    throw new HttpError(429, 'rate_limited', `at most ${most} test-sends per tenant every ${windowSeconds} s; retry in ${decision.retryAfterSeconds} s`, [], {
      'Retry-After': String(decision.retryAfterSeconds),
    });
  }
}
