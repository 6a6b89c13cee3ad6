import { eq } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { canAccessTenant } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { teams } from '../../db/schema.ts';
import { listTeams, upsertTeam } from '../../directory/directoryStore.ts';
import { forbidden, notFound } from '../../errors.ts';
import { entityIdSchema, tenantIdSchema } from '../../intake/eventEnvelope.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { parseOrThrow, pathParam } from '../params.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { assertTenantsExist, outboundUrlField, sendUpserted } from './directoryCommon.ts';
import { assertTenantAccess, listQuerySchema, scopedTenantFilter } from './tenantScope.ts';

export function presentTeam(row: typeof teams.$inferSelect) {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    slackWebhookUrl: row.slackWebhookUrl,
    teamsWebhookUrl: row.teamsWebhookUrl,
    memberIds: row.memberIds,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** PUT /api/v1/teams/:id. A factory because the chat URLs are checked against the deployment's outbound policy. */
export function teamBody(allowHosts: AllowHosts) {
  return z.object({
    tenantId: tenantIdSchema,
    name: z.string().trim().min(1).max(200),
    slackWebhookUrl: outboundUrlField('slack', allowHosts).nullish(),
    teamsWebhookUrl: outboundUrlField('teams', allowHosts).nullish(),
    memberIds: z
      .array(entityIdSchema)
      .max(10_000)
      .transform((ids) => [...new Set(ids)])
      .optional()
      .meta({ description: 'users of the team’s tenant, for `teams` rules; left out: kept' }),
  });
}

export function teamsRouter(deps: { auth: Authenticator; db: Db; allowHosts: AllowHosts }): Router {
  const router = Router();
  const { db } = deps;
  const bodySchema = teamBody(deps.allowHosts);

  /** A team of another tenant is "not found", so ids do not leak across tenants. */
  async function findVisible(id: string, scope: Parameters<typeof canAccessTenant>[0]) {
    const [row] = await db.select().from(teams).where(eq(teams.id, id));
    if (!row || !canAccessTenant(scope, row.tenantId)) throw notFound('team');
    return row;
  }

  router.put('/api/v1/teams/:id', deps.auth.admin, async (req, res) => {
    const id = parseOrThrow(entityIdSchema, pathParam(req, 'id'), ['id']);
    const scope = principalOf(req).tenants;
    const body = parseOrThrow(bodySchema, req.body);
    assertTenantAccess(scope, body.tenantId);
    const [existing] = await db.select({ tenantId: teams.tenantId }).from(teams).where(eq(teams.id, id));
    // Refused without naming the owner: the message must not tell the caller which tenant holds the id.
    if (existing && !canAccessTenant(scope, existing.tenantId)) throw forbidden('this team belongs to a tenant outside this credential’s scope');
    await assertTenantsExist(db, [body.tenantId]);
    const values = {
      tenantId: body.tenantId,
      name: body.name,
      slackWebhookUrl: body.slackWebhookUrl ?? null,
      teamsWebhookUrl: body.teamsWebhookUrl ?? null,
      ...(body.memberIds && { memberIds: body.memberIds }),
    };
    sendUpserted(res, await upsertTeam(db, id, values), presentTeam);
  });

  router.get('/api/v1/teams', deps.auth.admin, async (req, res) => {
    const query = parseOrThrow(listQuerySchema, req.query);
    const tenantIds = scopedTenantFilter(principalOf(req).tenants, query.tenantId);
    const rows = await listTeams(db, tenantIds, query.limit);
    res.json({ items: rows.map(presentTeam) });
  });

  router.get('/api/v1/teams/:id', deps.auth.admin, async (req, res) => {
    res.json(presentTeam(await findVisible(pathParam(req, 'id'), principalOf(req).tenants)));
  });

  router.delete('/api/v1/teams/:id', deps.auth.admin, async (req, res) => {
    await findVisible(pathParam(req, 'id'), principalOf(req).tenants);
    await db.delete(teams).where(eq(teams.id, pathParam(req, 'id')));
    res.status(204).end();
  });

  return router;
}
