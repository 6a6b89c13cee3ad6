import { eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import { assertTenantAccess, canAccessTenant } from '../../auth/principal.ts';
import type { Db } from '../../db/client.ts';
import { teams } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import { entityIdSchema, tenantIdSchema } from '../../intake/eventEnvelope.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { parseOrThrow } from '../../validation.ts';
import { pathParam } from '../params.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { assertTenantsExist, insertedFlag, outboundUrlField, sendUpserted } from './directoryCommon.ts';
import { listQuerySchema, scopedTenantFilter } from './listScope.ts';

function present(row: typeof teams.$inferSelect) {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    slackWebhookUrl: row.slackWebhookUrl,
    teamsWebhookUrl: row.teamsWebhookUrl,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function teamsRouter(deps: { auth: Authenticator; db: Db; allowHosts: AllowHosts }): Router {
  const router = Router();
  const { db } = deps;
  const teamBody = z.object({
    tenantId: tenantIdSchema,
    name: z.string().trim().min(1).max(200),
    slackWebhookUrl: outboundUrlField('slack', deps.allowHosts).nullish(),
    teamsWebhookUrl: outboundUrlField('teams', deps.allowHosts).nullish(),
  });

  /** A team of another tenant is "not found", so ids do not leak across tenants. */
  async function findVisible(id: string, scope: Parameters<typeof canAccessTenant>[0]) {
    const [row] = await db.select().from(teams).where(eq(teams.id, id));
    if (!row || !canAccessTenant(scope, row.tenantId)) throw notFound('team');
    return row;
  }

  router.put('/api/v1/teams/:id', deps.auth.admin, async (req, res) => {
    const id = parseOrThrow(entityIdSchema, pathParam(req, 'id'), ['id']);
    const scope = principalOf(req).tenants;
    const body = parseOrThrow(teamBody, req.body);
    assertTenantAccess(scope, body.tenantId);
    const [existing] = await db.select({ tenantId: teams.tenantId }).from(teams).where(eq(teams.id, id));
    if (existing) assertTenantAccess(scope, existing.tenantId);
    await assertTenantsExist(db, [body.tenantId]);
    const values = {
      tenantId: body.tenantId,
      name: body.name,
      slackWebhookUrl: body.slackWebhookUrl ?? null,
      teamsWebhookUrl: body.teamsWebhookUrl ?? null,
    };
    const [row] = await db
      .insert(teams)
      .values({ id, ...values })
      .onConflictDoUpdate({ target: teams.id, set: { ...values, updatedAt: sql`now()` } })
      .returning({ ...getTableColumns(teams), inserted: insertedFlag });
    sendUpserted(res, present(row!), row!.inserted);
  });

  router.get('/api/v1/teams', deps.auth.admin, async (req, res) => {
    const query = parseOrThrow(listQuerySchema, req.query);
    const tenantIds = scopedTenantFilter(principalOf(req).tenants, query.tenantId);
    const rows = await db
      .select()
      .from(teams)
      .where(tenantIds ? inArray(teams.tenantId, tenantIds) : undefined)
      .orderBy(teams.id)
      .limit(query.limit);
    res.json({ items: rows.map(present) });
  });

  router.get('/api/v1/teams/:id', deps.auth.admin, async (req, res) => {
    res.json(present(await findVisible(pathParam(req, 'id'), principalOf(req).tenants)));
  });

  router.delete('/api/v1/teams/:id', deps.auth.admin, async (req, res) => {
    await findVisible(pathParam(req, 'id'), principalOf(req).tenants);
    await db.delete(teams).where(eq(teams.id, pathParam(req, 'id')));
    res.status(204).end();
  });

  return router;
}
