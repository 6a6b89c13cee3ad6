import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { rules, tenants } from '../db/schema.ts';
import { isUniqueViolation } from '../errors.ts';

export type RuleRow = typeof rules.$inferSelect;
export type NewRule = typeof rules.$inferInsert;

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Tells routers the tenant's rules changed: they re-read them when its rules_version moves (ruleCache.ts). Call in the writing transaction. */
export async function bumpRulesVersion(tx: Tx, tenantId: string): Promise<void> {
  await tx.update(tenants).set({ rulesVersion: sql`${tenants.rulesVersion} + 1` }).where(eq(tenants.id, tenantId));
}

/** Every rule write: it bumps the tenant's rules_version in the same transaction. */
async function withVersionBump<T>(db: Db, tenantId: string, write: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const result = await write(tx);
    await bumpRulesVersion(tx, tenantId);
    return result;
  });
}

/**
 * Stores a new rule; 'duplicate' when an enabled rule of the tenant has the same pattern,
 * channels, severity filter and recipients. Two concurrent creates both pass any check made
 * before the insert; only the unique index can decide, so its error is the answer.
 */
export async function insertRule(db: Db, values: NewRule): Promise<RuleRow | 'duplicate'> {
  try {
    return await withVersionBump(db, values.tenantId, async (tx) => (await tx.insert(rules).values(values).returning())[0]!);
  } catch (err) {
    if (isUniqueViolation(err)) return 'duplicate';
    throw err;
  }
}

/** Changes a rule; null when it is gone, 'duplicate' as for insertRule. */
export async function updateRule(db: Db, existing: RuleRow, values: Partial<NewRule>): Promise<RuleRow | null | 'duplicate'> {
  try {
    return await withVersionBump(
      db,
      existing.tenantId,
      async (tx) => (await tx.update(rules).set({ ...values, updatedAt: sql`now()` }).where(eq(rules.id, existing.id)).returning())[0] ?? null,
    );
  } catch (err) {
    if (isUniqueViolation(err)) return 'duplicate';
    throw err;
  }
}

export async function deleteRule(db: Db, existing: RuleRow): Promise<void> {
  await withVersionBump(db, existing.tenantId, (tx) => tx.delete(rules).where(eq(rules.id, existing.id)));
}
