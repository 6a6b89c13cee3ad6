import { eq } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { tenants } from '../../db/schema.ts';
import { upsertTenant } from '../../directory/directoryStore.ts';
import { notFound } from '../../errors.ts';
import { tenantIdSchema } from '../../intake/eventEnvelope.ts';
import { parseOrThrow, pathParam } from '../params.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { sendUpserted } from './directoryCommon.ts';
import { assertTenantAccess } from './tenantScope.ts';

export const tenantBody = z.object({ name: z.string().trim().min(1).max(200) });

export function presentTenant(row: typeof tenants.$inferSelect) {
  return { id: row.id, name: row.name, createdAt: row.createdAt, updatedAt: row.updatedAt };
}

export function tenantsRouter(deps: { auth: Authenticator; db: Db }): Router {
  const router = Router();
  const { db } = deps;

  router.put('/api/v1/tenants/:id', deps.auth.admin, async (req, res) => {
    const id = parseOrThrow(tenantIdSchema, pathParam(req, 'id'), ['id']);
    assertTenantAccess(principalOf(req).tenants, id);
    const body = parseOrThrow(tenantBody, req.body);
    sendUpserted(res, await upsertTenant(db, id, { name: body.name }), presentTenant);
  });

  router.get('/api/v1/tenants/:id', deps.auth.admin, async (req, res) => {
    assertTenantAccess(principalOf(req).tenants, pathParam(req, 'id'));
    const [row] = await db.select().from(tenants).where(eq(tenants.id, pathParam(req, 'id')));
    if (!row) throw notFound('tenant');
    res.json(presentTenant(row));
  });

  router.delete('/api/v1/tenants/:id', deps.auth.admin, async (req, res) => {
    assertTenantAccess(principalOf(req).tenants, pathParam(req, 'id'));
    const deleted = await db.delete(tenants).where(eq(tenants.id, pathParam(req, 'id'))).returning({ id: tenants.id });
    if (deleted.length === 0) throw notFound('tenant');
    res.status(204).end();
  });

  return router;
}
