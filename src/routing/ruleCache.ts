import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { Channel } from './channels.ts';
import type { RoutingRule } from './planDeliveries.ts';
import type { Priority } from './priority.ts';
import type { RecipientSpec, RuleContent, RuleDelivery } from './ruleSpec.ts';

type RuleRow = {
  id: string;
  tenant_id: string;
  event_type: string;
  channels: Channel[];
  severity_filter: string;
  enabled: boolean;
  email_recipients: string[];
  webhook_url: string | null;
  recipients: RecipientSpec;
  priority: Priority | null;
  content: RuleContent | null;
  delivery: RuleDelivery | null;
};

export type TenantRules = { version: string; rules: RoutingRule[] };

/**
 * Every enabled rule of the routed tenants, kept in memory by the router: patterns are matched
 * in memory (a tenant with hundreds of rules costs no query per pattern), and the rules are
 * read again only when the tenant's `rules_version` — bumped by every rule change, and read
 * in the same round trip as the directory (see loadDirectory) — says they changed. A routing
 * pass therefore always sees every change committed before it read the directory.
 */
export function createRuleCache(db: Db) {
  const byTenant = new Map<string, TenantRules>();

  /** Reads the rules of these tenants, oldest first (the oldest wins a tie), with their versions. */
  async function load(tenantIds: string[]): Promise<void> {
    if (tenantIds.length === 0) return;
    const rows = await db.execute<{ tenant_id: string; version: string; rules: RuleRow[] }>(sql`
      select t.id as tenant_id, t.rules_version::text as version,
             coalesce(json_agg(r order by r.created_at, r.id) filter (where r.id is not null), '[]') as rules
      from tenants t left join rules r on r.tenant_id = t.id and r.enabled
      where t.id = any(${sql.param(tenantIds)}::text[])
      group by t.id`);
    const found = new Set<string>();
    for (const row of rows) {
      found.add(row.tenant_id);
      byTenant.set(row.tenant_id, { version: row.version, rules: row.rules.map(routingRule) });
    }
    // A tenant that is gone has no rules; nothing routes for it anyway.
    for (const id of tenantIds) if (!found.has(id)) byTenant.set(id, { version: '-1', rules: [] });
  }

  return {
    /** Makes sure these tenants' rules are in memory (a read only for tenants not seen yet). */
    async ensure(tenantIds: string[]): Promise<void> {
      await load(tenantIds.filter((id) => !byTenant.has(id)));
    },
    rulesOf(tenantId: string): RoutingRule[] {
      return byTenant.get(tenantId)?.rules ?? [];
    },
    /** Reads again the tenants whose version differs from what is in memory; true when any did. */
    async refresh(versions: ReadonlyMap<string, string>): Promise<boolean> {
      const stale = [...versions].filter(([id, version]) => byTenant.get(id)?.version !== version).map(([id]) => id);
      await load(stale);
      return stale.length > 0;
    },
  };
}

export type RuleCache = ReturnType<typeof createRuleCache>;

function routingRule(row: RuleRow): RoutingRule {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    eventType: row.event_type,
    channels: row.channels,
    severityFilter: row.severity_filter,
    enabled: row.enabled,
    emailRecipients: row.email_recipients,
    webhookUrl: row.webhook_url,
    recipients: row.recipients,
    priority: row.priority,
    content: row.content,
    delivery: row.delivery,
  };
}
