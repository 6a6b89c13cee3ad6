import { and, eq } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { canAccessTenant, type TenantScope } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import { listUsers, upsertUser } from '../../directory/directoryStore.ts';
import { forbidden, notFound } from '../../errors.ts';
import { entityIdSchema, tenantIdSchema } from '../../intake/eventEnvelope.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { quietHoursSchema, rolesSchema, timezoneSchema } from '../../directory/personSchedule.ts';
import { preferencesSchema } from '../../routing/preferences.ts';
import { parseOrThrow, pathParam } from '../params.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { assertTenantsExist, outboundUrlField, sendUpserted } from './directoryCommon.ts';
import { listQuerySchema, scopedTenantFilter } from './tenantScope.ts';

/**
 * The user as a caller sees them. A personal Slack or Teams URL is a credential of its owner (it
 * lets anyone post as that person's integration), so SPEC §7.1 shows it only to a credential for
 * every tenant; a tenant-scoped caller sees whether one is set. The owner reads theirs on /me/chat.
 */
export function presentUser(row: typeof users.$inferSelect, scope: TenantScope) {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    tenantIds: row.tenantIds,
    hasSlackWebhookUrl: row.slackWebhookUrl !== null,
    hasTeamsWebhookUrl: row.teamsWebhookUrl !== null,
    ...(scope.all && { slackWebhookUrl: row.slackWebhookUrl, teamsWebhookUrl: row.teamsWebhookUrl }),
    preferences: row.preferences,
    // What someone is in another company is that company's business.
    roles: Object.fromEntries(Object.entries(row.roles).filter(([tenantId]) => canAccessTenant(scope, tenantId))),
    timezone: row.timezone,
    quietHours: row.quietHours ?? null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A user is visible to a caller who shares any tenant with them, and changeable only by one who holds all of them. */
const visibleTo = (scope: TenantScope, row: { tenantIds: string[] }) => row.tenantIds.some((t) => canAccessTenant(scope, t));
const ownedBy = (scope: TenantScope, row: { tenantIds: string[] }) => row.tenantIds.every((t) => canAccessTenant(scope, t));

/** PUT /api/v1/users/:id. A factory because the chat URLs are checked against the deployment's outbound policy. */
export function userBody(allowHosts: AllowHosts) {
  return z.object({
    email: z.email().max(320),
    name: z.string().trim().min(1).max(200),
    tenantIds: z.array(tenantIdSchema).min(1).max(1000),
    slackWebhookUrl: outboundUrlField('slack', allowHosts).nullish(),
    teamsWebhookUrl: outboundUrlField('teams', allowHosts).nullish(),
    preferences: preferencesSchema.optional(),
    roles: rolesSchema.optional().meta({ description: 'role names per tenant of the user, for `role` rules; left out: kept' }),
    timezone: timezoneSchema.optional().meta({ description: 'IANA time zone (default UTC); left out: kept' }),
    quietHours: quietHoursSchema.nullish().meta({ description: 'daily quiet hours in the time zone; null: none; left out: kept' }),
  }).superRefine((body, ctx) => {
    // A role is held in one of the user's own tenants.
    for (const tenantId of Object.keys(body.roles ?? {})) {
      if (!body.tenantIds.includes(tenantId)) ctx.addIssue({ code: 'custom', path: ['roles', tenantId], message: 'is not one of the user’s tenantIds' });
    }
  });
}

export function usersRouter(deps: { auth: Authenticator; db: Db; allowHosts: AllowHosts }): Router {
  const router = Router();
  const { db } = deps;
  const bodySchema = userBody(deps.allowHosts);

  router.put('/api/v1/users/:id', deps.auth.admin, async (req, res) => {
    const id = parseOrThrow(entityIdSchema, pathParam(req, 'id'), ['id']);
    const scope = principalOf(req).tenants;
    const body = parseOrThrow(bodySchema, req.body);
    const tenantIds = [...new Set(body.tenantIds)];
    if (!ownedBy(scope, { tenantIds })) throw forbidden('tenantIds names a tenant outside this credential’s scope');
    const [existing] = await db.select({ tenantIds: users.tenantIds }).from(users).where(eq(users.id, id));
    if (existing && !ownedBy(scope, existing)) throw forbidden('this user belongs to a tenant outside this credential’s scope');
    await assertTenantsExist(db, tenantIds);

    // A replace without preferences or personal chat URLs keeps what is stored: they belong to the
    // person, not the directory sync — and a caller who is shown only whether a URL is set must be
    // able to send the user back without wiping it. An explicit null removes a URL.
    const values = {
      email: body.email,
      name: body.name,
      tenantIds,
      ...(body.slackWebhookUrl !== undefined && { slackWebhookUrl: body.slackWebhookUrl }),
      ...(body.teamsWebhookUrl !== undefined && { teamsWebhookUrl: body.teamsWebhookUrl }),
      ...(body.preferences ? { preferences: body.preferences } : {}),
      ...(body.roles && { roles: body.roles }),
      ...(body.timezone && { timezone: body.timezone }),
      ...(body.quietHours !== undefined && { quietHours: body.quietHours }),
    };
    sendUpserted(res, await upsertUser(db, id, values), (row) => presentUser(row, scope));
  });

  router.get('/api/v1/users', deps.auth.admin, async (req, res) => {
    const query = parseOrThrow(listQuerySchema, req.query);
    const tenantIds = scopedTenantFilter(principalOf(req).tenants, query.tenantId);
    const rows = await listUsers(db, tenantIds, query.limit);
    const scope = principalOf(req).tenants;
    res.json({ items: rows.map((row) => presentUser(row, scope)) });
  });

  router.get('/api/v1/users/:id', deps.auth.admin, async (req, res) => {
    const [row] = await db.select().from(users).where(eq(users.id, pathParam(req, 'id')));
    const scope = principalOf(req).tenants;
    if (!row || !visibleTo(scope, row)) throw notFound('user');
    res.json(presentUser(row, scope));
  });

  router.delete('/api/v1/users/:id', deps.auth.admin, async (req, res) => {
    const scope = principalOf(req).tenants;
    const [row] = await db.select({ tenantIds: users.tenantIds }).from(users).where(eq(users.id, pathParam(req, 'id')));
    if (!row || !visibleTo(scope, row)) throw notFound('user');
    if (!ownedBy(scope, row)) throw forbidden('this user belongs to a tenant outside this credential’s scope');
    await db.delete(users).where(and(eq(users.id, pathParam(req, 'id'))));
    res.status(204).end();
  });

  return router;
}
