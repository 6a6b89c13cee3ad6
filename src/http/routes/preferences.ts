import { and, eq, SQL, sql } from 'drizzle-orm';
import { Router, type Request } from 'express';
import type { Db } from '../../db/client.ts';
import { users, type Preferences } from '../../db/schema.ts';
import { badRequest, notFound } from '../../errors.ts';
import { MAX_KEYS as MAX_PREFERENCE_KEYS, preferencesSchema } from '../../routing/preferences.ts';
import { userOf, type Authenticator } from '../authenticate.ts';
import { parseOrThrow } from '../params.ts';

/**
 * SPEC §5: a signed-in user's own preference matrix, flat in and flat out. Unset keys are not
 * filled in: the channel defaults apply at routing time, so a default changed later reaches
 * everyone who never chose.
 */
export function preferencesRouter(deps: { auth: Authenticator; db: Db }): Router {
  const router = Router();
  const { db } = deps;

  /**
   * Writes the matrix (or merges into it) and answers with what is stored; 404 when the token's
   * user is not in the directory. SPEC §7.1: the stored matrix holds at most MAX_KEYS keys, after
   * a merge too — checked in the UPDATE itself, so two merges at once cannot both pass it.
   */
  async function store(req: Request, value: (matrix: Preferences) => Preferences | SQL): Promise<Preferences> {
    const matrix = parseOrThrow(preferencesSchema, req.body);
    const stored = value(matrix);
    const userId = userOf(req).userId;
    const [row] = await db
      .update(users)
      .set({ preferences: stored, updatedAt: sql`now()` })
      .where(and(eq(users.id, userId), sql`(select count(*) from jsonb_object_keys(${asJsonb(stored)})) <= ${MAX_PREFERENCE_KEYS}`))
      .returning({ preferences: users.preferences });
    if (row) return row.preferences;
    const [exists] = await db.select({ id: users.id }).from(users).where(eq(users.id, userId));
    if (!exists) throw notFound('user');
    const message = `the stored matrix would hold more than ${MAX_PREFERENCE_KEYS} keys; remove some with PUT`;
    throw badRequest(`(body): ${message}`, [{ field: '(body)', message }]);
  }

  router.get('/api/v1/me/preferences', deps.auth.user, async (req, res) => {
    const [row] = await db.select({ preferences: users.preferences }).from(users).where(eq(users.id, userOf(req).userId));
    if (!row) throw notFound('user');
    res.json(row.preferences);
  });

  router.put('/api/v1/me/preferences', deps.auth.user, async (req, res) => {
    res.json(await store(req, (matrix) => matrix));
  });

  // Merged in the database, so two tabs patching different keys at once both keep their change.
  router.patch('/api/v1/me/preferences', deps.auth.user, async (req, res) => {
    res.json(await store(req, (matrix) => sql`(${users.preferences} || ${JSON.stringify(matrix)}::jsonb)`));
  });

  return router;
}

/** The matrix as jsonb in SQL, whether it is a value or an expression over the stored one. */
const asJsonb = (matrix: Preferences | SQL): SQL => (matrix instanceof SQL ? matrix : sql`${JSON.stringify(matrix)}::jsonb`);
