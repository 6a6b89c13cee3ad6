import { eq, sql, type SQL } from 'drizzle-orm';
import { Router, type Request } from 'express';
import type { Db } from '../../db/client.ts';
import { users, type Preferences } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import { preferencesSchema } from '../../routing/preferences.ts';
import { parseOrThrow } from '../../validation.ts';
import { userOf, type Authenticator } from '../authenticate.ts';

/**
 * SPEC §5: a signed-in user's own preference matrix, flat in and flat out. Unset keys are not
 * filled in: the channel defaults apply at routing time, so a default changed later reaches
 * everyone who never chose.
 */
export function preferencesRouter(deps: { auth: Authenticator; db: Db }): Router {
  const router = Router();
  const { db } = deps;

  /** Writes the matrix (or merges into it) and answers with what is stored; 404 when the token's user is not in the directory. */
  async function store(req: Request, value: (matrix: Preferences) => Preferences | SQL): Promise<Preferences> {
    const matrix = parseOrThrow(preferencesSchema, req.body);
    const [row] = await db
      .update(users)
      .set({ preferences: value(matrix), updatedAt: sql`now()` })
      .where(eq(users.id, userOf(req).userId))
      .returning({ preferences: users.preferences });
    if (!row) throw notFound('user');
    return row.preferences;
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
    res.json(await store(req, (matrix) => sql`${users.preferences} || ${JSON.stringify(matrix)}::jsonb`));
  });

  return router;
}
