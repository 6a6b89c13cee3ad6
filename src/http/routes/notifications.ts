import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { notFound } from '../../errors.ts';
import type { InboxCounts } from '../../inbox/inboxCounts.ts';
import { listNotifications, markAllRead, markRead, summarize, type InboxOwner } from '../../inbox/inboxStore.ts';
import { unreadCountFrame, type FramePublisher } from '../../realtime/liveFrames.ts';
import type { Logger } from '../../logger.ts';
import { parseOrThrow } from '../../validation.ts';
import { pathParam } from '../params.ts';
import { userOf, type Authenticator } from '../authenticate.ts';

export const notificationListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(/^\d{1,19}$/, 'must be a nextCursor from a previous page').transform(BigInt).optional(),
  read: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  type: z.string().min(1).max(100).optional(),
});

export const notificationIdSchema = z.string().regex(/^\d{1,19}$/, 'must be a notification id').transform(BigInt);

export function ownerOf(req: Request): InboxOwner {
  const user = userOf(req);
  return { userId: user.userId, tenantIds: user.tenants.all ? [] : [...user.tenants.ids] };
}

/** SPEC §5: the in-app inbox. Every change also goes out as live frames, so every open tab agrees. */
export function notificationsRouter(deps: { auth: Authenticator; db: Db; frames: FramePublisher; logger: Logger }): Router {
  const router = Router();
  const { db, frames } = deps;

  /**
   * Live frames are best effort: the change is committed, and a tab that misses it catches up on
   * reload. They reach every stream of the person, each of which sees its own tenants' share.
   */
  async function announce(owner: InboxOwner, counts: InboxCounts, ...extra: Parameters<FramePublisher['toUser']>[1][]): Promise<void> {
    try {
      await frames.toUser(owner.userId, ...extra, unreadCountFrame(counts));
    } catch (err) {
      deps.logger.warn({ err, userId: owner.userId }, 'could not publish inbox frames');
    }
  }

  router.get('/api/v1/notifications', deps.auth.user, async (req, res) => {
    const query = parseOrThrow(notificationListQuery, req.query);
    res.json(await listNotifications(db, ownerOf(req), query));
  });

  router.get('/api/v1/notifications/summary', deps.auth.user, async (req, res) => {
    res.json(await summarize(db, ownerOf(req)));
  });

  router.post('/api/v1/notifications/read-all', deps.auth.user, async (req, res) => {
    const owner = ownerOf(req);
    const { updated, byTenant, counts } = await markAllRead(db, owner);
    await announce(owner, counts, { type: 'notifications.read_all', data: { updated }, updatedByTenant: byTenant });
    res.json({ updated });
  });

  router.post('/api/v1/notifications/:id/read', deps.auth.user, async (req, res) => {
    const owner = ownerOf(req);
    const parsed = notificationIdSchema.safeParse(pathParam(req, 'id'));
    const result = parsed.success ? await markRead(db, owner, parsed.data) : null;
    if (!result) throw notFound('notification');
    if (result.changed) await announce(owner, result.counts, { type: 'notification.read', data: { id: pathParam(req, 'id') }, tenantId: result.tenantId });
    res.status(204).end();
  });

  return router;
}
