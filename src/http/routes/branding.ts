import { eq, sql } from 'drizzle-orm';
import { Router } from 'express';
import type { Db } from '../../db/client.ts';
import { tenants } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import { brandingSchema } from '../../templates/branding.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { parseOrThrow, pathParam } from '../params.ts';
import type { TemplateApiDeps } from './templates.ts';
import { assertTenantAccess } from './tenantScope.ts';

/** SPEC §7: a tenant's branding, which every template sees as `brand.*`. */
export function brandingRouter(deps: { auth: Authenticator; db: Db; templates: Pick<TemplateApiDeps, 'announceChange'> }): Router {
  const router = Router();
  const { db } = deps;

  router.get('/api/v1/tenants/:id/branding', deps.auth.admin, async (req, res) => {
    const id = pathParam(req, 'id');
    assertTenantAccess(principalOf(req).tenants, id);
    const [row] = await db.select({ branding: tenants.branding }).from(tenants).where(eq(tenants.id, id));
    if (!row) throw notFound('tenant');
    res.json(row.branding);
  });

  router.put('/api/v1/tenants/:id/branding', deps.auth.admin, async (req, res) => {
    const id = pathParam(req, 'id');
    assertTenantAccess(principalOf(req).tenants, id);
    const branding = parseOrThrow(brandingSchema, req.body);
    const [row] = await db
      .update(tenants)
      .set({ branding, updatedAt: sql`now()` })
      .where(eq(tenants.id, id))
      .returning({ branding: tenants.branding });
    if (!row) throw notFound('tenant');
    await deps.templates.announceChange({ kind: 'branding', tenantId: id });
    res.json(row.branding);
  });

  return router;
}
