import type { Db } from '../db/client.ts';
import { teams, tenants, users } from '../db/schema.ts';

/** The demo world `npm start` seeds: one company, three people, one team. */
export const DEMO_TENANT = { id: 'demo', name: 'Demo Corp' };

export const DEMO_USERS = [
  { id: 'alice', name: 'Alice Analyst', email: 'alice@demo.example', role: 'admin' as const },
  { id: 'bob', name: 'Bob Builder', email: 'bob@demo.example', role: 'user' as const },
  { id: 'carol', name: 'Carol Approver', email: 'carol@demo.example', role: 'user' as const },
];

export const DEMO_TEAM = { id: 'demo-appsec', name: 'AppSec' };

/** Idempotent: re-running leaves existing rows (and anything a person changed in them) alone. */
export async function seedDemo(db: Db): Promise<void> {
  await db.insert(tenants).values(DEMO_TENANT).onConflictDoNothing();
  await db
    .insert(users)
    .values(DEMO_USERS.map((u) => ({ id: u.id, name: u.name, email: u.email, tenantIds: [DEMO_TENANT.id] })))
    .onConflictDoNothing();
  await db.insert(teams).values({ ...DEMO_TEAM, tenantId: DEMO_TENANT.id }).onConflictDoNothing();
}
