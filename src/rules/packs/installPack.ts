import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.ts';
import { rules, tenants } from '../../db/schema.ts';
import { EVENT_RECIPIENTS } from '../../routing/ruleSpec.ts';
import { createTemplate, TemplateSlotTaken } from '../../templates/templateStore.ts';
import { bumpRulesVersion } from '../ruleStore.ts';
import { channelSetSchema, recipientSpecSchema, severityFilterSchema } from '../ruleInput.ts';
import type { PackRule, RulePack } from './rulePack.ts';

export type PackInstall = {
  /** Rules added to the tenant. */
  installed: number;
  /** Rules the tenant already had: same pattern, channels, severity filter and recipients, enabled or not. */
  skipped: number;
  /** Email templates that became global defaults; a slot that already had one keeps it. */
  templatesAdded: number;
};

/** A pack rule as the rules API would store it: channels sorted, severity and recipients canonical. */
export function storedFormOf(rule: PackRule) {
  return {
    eventType: rule.eventType,
    channels: channelSetSchema.parse(rule.channels),
    severityFilter: severityFilterSchema.parse(rule.severityFilter ?? ''),
    recipients: recipientSpecSchema.parse(rule.recipients ?? EVENT_RECIPIENTS),
    priority: rule.priority ?? null,
    content: rule.content ?? null,
    delivery: rule.delivery ?? null,
  };
}

/**
 * Adds a pack's rules the tenant does not have yet, and its email templates as global defaults
 * where none is set (SPEC §3.2). Idempotent, concurrent installs included: the tenant's row is
 * locked for the transaction, and a rule counts as had when one with the same identity exists
 * even disabled — a tenant that switched a pack rule off keeps it off. Returns null for a
 * tenant that does not exist.
 */
export async function installPack(db: Db, tenantId: string, pack: RulePack): Promise<PackInstall | null> {
  const counted = await db.transaction(async (tx) => {
    const [tenant] = await tx.select({ id: tenants.id }).from(tenants).where(eq(tenants.id, tenantId)).for('update');
    if (!tenant) return null;
    let installed = 0;
    for (const rule of pack.rules.map(storedFormOf)) {
      const [had] = await tx
        .select({ id: rules.id })
        .from(rules)
        .where(
          and(
            eq(rules.tenantId, tenantId),
            eq(rules.eventType, rule.eventType),
            sql`${rules.channels} = ${sql.param(rule.channels)}::text[]`,
            eq(rules.severityFilter, rule.severityFilter),
            sql`${rules.recipients} = ${JSON.stringify(rule.recipients)}::jsonb`,
          ),
        )
        .limit(1);
      if (had) continue;
      // Each its own creation time, in pack order: the oldest rule wins a tie between rules' content.
      await tx.insert(rules).values({ tenantId, ...rule, createdAt: sql`clock_timestamp()` });
      installed += 1;
    }
    if (installed > 0) await bumpRulesVersion(tx, tenantId);
    return { installed, skipped: pack.rules.length - installed };
  });
  if (!counted) return null;

  let templatesAdded = 0;
  for (const { eventType, ...fields } of pack.emailTemplates) {
    try {
      await createTemplate(db, { tenantId: null, eventType, channel: 'email' }, fields);
      templatesAdded += 1;
    } catch (err) {
      if (!(err instanceof TemplateSlotTaken)) throw err;
    }
  }
  return { ...counted, templatesAdded };
}
