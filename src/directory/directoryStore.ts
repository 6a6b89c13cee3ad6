import { arrayOverlaps, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { teams, tenants, users } from '../db/schema.ts';

export type TenantRow = typeof tenants.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type TeamRow = typeof teams.$inferSelect;

/** A create-or-replace by id: the row as stored, and whether this call created it. */
export type Upserted<Row> = { row: Row; created: boolean };

type DirectoryTable = typeof tenants | typeof users | typeof teams;

/** `(xmax = 0)` is true for a row this INSERT … ON CONFLICT created, false for one it updated. */
const createdFlag = sql<boolean>`(xmax = 0)`;

/** One statement: inserts the row, or replaces the given columns of the one with that id. */
async function upsertById<T extends DirectoryTable>(db: Db, table: T, id: string, values: Omit<T['$inferInsert'], 'id'>): Promise<Upserted<T['$inferSelect']>> {
  // Drizzle cannot type an insert into a union of tables; each caller's values are checked against its own table.
  const target = table as typeof tenants;
  const [stored] = await db
    .insert(target)
    .values({ id, ...values } as typeof tenants.$inferInsert)
    .onConflictDoUpdate({ target: target.id, set: { ...values, updatedAt: sql`now()` } })
    .returning({ ...getTableColumns(target), created: createdFlag });
  const { created, ...row } = stored!;
  return { row: row as T['$inferSelect'], created };
}

export const upsertTenant = (db: Db, id: string, values: { name: string }) => upsertById(db, tenants, id, values);

/**
 * Values left out are kept: a user's preferences and personal chat URLs belong to the person,
 * not the directory sync that replaces the rest.
 */
export const upsertUser = (db: Db, id: string, values: Omit<typeof users.$inferInsert, 'id'>) => upsertById(db, users, id, values);

export const upsertTeam = (db: Db, id: string, values: Omit<typeof teams.$inferInsert, 'id'>) => upsertById(db, teams, id, values);

/** Rows by id, at most `limit`, of the tenants `inTenants` selects (every row without it). */
async function listByTenant<T extends typeof users | typeof teams>(db: Db, table: T, inTenants: SQL | undefined, limit: number): Promise<T['$inferSelect'][]> {
  // As in upsertById: one table's query, typed by the caller's.
  const target = table as typeof teams;
  return (await db.select().from(target).where(inTenants).orderBy(target.id).limit(limit)) as T['$inferSelect'][];
}

/** The users who belong to any of `tenantIds` (null: every user). */
export const listUsers = (db: Db, tenantIds: string[] | null, limit: number) =>
  listByTenant(db, users, tenantIds ? arrayOverlaps(users.tenantIds, tenantIds) : undefined, limit);

/** The teams of `tenantIds` (null: every team). */
export const listTeams = (db: Db, tenantIds: string[] | null, limit: number) =>
  listByTenant(db, teams, tenantIds ? inArray(teams.tenantId, tenantIds) : undefined, limit);

/** The tenant ids of the list that the directory does not hold. */
export async function missingTenants(db: Db, tenantIds: string[]): Promise<string[]> {
  if (tenantIds.length === 0) return [];
  const found = await db.select({ id: tenants.id }).from(tenants).where(inArray(tenants.id, tenantIds));
  const known = new Set(found.map((t) => t.id));
  return tenantIds.filter((id) => !known.has(id));
}
