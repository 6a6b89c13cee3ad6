import { Router } from 'express';
import type { Db } from '../../db/client.ts';
import { notFound } from '../../errors.ts';
import { RULE_PACKS, findRulePack } from '../../rules/packs/catalog.ts';
import { installPack, storedFormOf } from '../../rules/packs/installPack.ts';
import type { RulePack } from '../../rules/packs/rulePack.ts';
import type { TemplatesChange } from '../../templates/templateRenderer.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { pathParam } from '../params.ts';
import { assertTenantAccess } from './tenantScope.ts';

/** A pack as GET /api/v1/rule-packs shows it: its rules as the rules API would store them, and the event types it ships email templates for. */
export function presentRulePack(pack: RulePack) {
  return {
    id: pack.id,
    name: pack.name,
    description: pack.description,
    rules: pack.rules.map(storedFormOf),
    emailTemplates: pack.emailTemplates.map((template) => template.eventType),
  };
}

/** SPEC §3.2: the catalog of rule packs, and installing one for a tenant. */
export function rulePacksRouter(deps: { auth: Authenticator; db: Db; templates: { announceChange(change: TemplatesChange): Promise<void> } }): Router {
  const router = Router();

  router.get('/api/v1/rule-packs', deps.auth.admin, (_req, res) => {
    res.json({ items: RULE_PACKS.map(presentRulePack) });
  });

  router.post('/api/v1/tenants/:id/rule-packs/:packId', deps.auth.admin, async (req, res) => {
    const tenantId = pathParam(req, 'id');
    assertTenantAccess(principalOf(req).tenants, tenantId);
    const pack = findRulePack(pathParam(req, 'packId'));
    if (!pack) throw notFound('rule pack');
    const result = await installPack(deps.db, tenantId, pack);
    if (!result) throw notFound('tenant');
    // Every instance drops its cached templates, so the new global defaults apply at once.
    if (result.templatesAdded > 0) await deps.templates.announceChange({ kind: 'template', tenantId: null });
    res.json(result);
  });

  return router;
}
