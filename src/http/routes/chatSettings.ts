import { eq, sql } from 'drizzle-orm';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import { notFound } from '../../errors.ts';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';
import { userOf, type Authenticator } from '../authenticate.ts';
import { outboundUrlField } from './directoryCommon.ts';
import { parseOrThrow } from '../params.ts';

/**
 * PUT /api/v1/me/chat: the user's personal Slack and Teams incoming-webhook URLs. PUT replaces,
 * so a URL left out (or null) is removed. A factory because the URLs are checked against the
 * deployment's outbound policy, as the sender will check them again.
 */
export function myChatBody(allowHosts: AllowHosts) {
  return z.object({
    slackWebhookUrl: outboundUrlField('slack', allowHosts).nullish(),
    teamsWebhookUrl: outboundUrlField('teams', allowHosts).nullish(),
  });
}

const chatColumns = { slackWebhookUrl: users.slackWebhookUrl, teamsWebhookUrl: users.teamsWebhookUrl };

/** SPEC §5: the signed-in user's own chat destinations (the directory sets the same fields for an admin). */
export function chatSettingsRouter(deps: { auth: Authenticator; db: Db; allowHosts: AllowHosts }): Router {
  const router = Router();
  const { db } = deps;
  const bodySchema = myChatBody(deps.allowHosts);

  router.get('/api/v1/me/chat', deps.auth.user, async (req, res) => {
    const [row] = await db.select(chatColumns).from(users).where(eq(users.id, userOf(req).userId));
    if (!row) throw notFound('user');
    res.json(row);
  });

  router.put('/api/v1/me/chat', deps.auth.user, async (req, res) => {
    const body = parseOrThrow(bodySchema, req.body);
    const [row] = await db
      .update(users)
      .set({ slackWebhookUrl: body.slackWebhookUrl ?? null, teamsWebhookUrl: body.teamsWebhookUrl ?? null, updatedAt: sql`now()` })
      .where(eq(users.id, userOf(req).userId))
      .returning(chatColumns);
    if (!row) throw notFound('user');
    res.json(row);
  });

  return router;
}
