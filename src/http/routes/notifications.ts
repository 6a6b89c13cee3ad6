import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Db } from '../../db/client.ts';
import { notFound } from '../../errors.ts';
import { changeState, ownsNotification, type Selection, type StateChange, type Transition } from '../../inbox/inboxStates.ts';
import { listNotifications, STATUSES, summarize, type InboxOwner } from '../../inbox/inboxStore.ts';
import type { Logger } from '../../logger.ts';
import { changedRowsFrame, unreadCountFrame, type FramePublisher, type LiveFrame } from '../../realtime/liveFrames.ts';
import { prioritySchema } from '../../routing/priority.ts';
import { userOf, type Authenticator } from '../authenticate.ts';
import { parseOrThrow, pathParam } from '../params.ts';

const idPattern = /^\d{1,19}$/;

/** The list's query parameters, as documented. */
export const notificationListFields = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().regex(idPattern, 'must be a nextCursor from a previous page').transform(BigInt).optional(),
  status: z
    .enum(STATUSES, { message: `must be one of ${STATUSES.join(', ')}` })
    .optional()
    .meta({ description: 'default: every one but the archived; `all` includes them; unseen, unread and read leave them out' }),
  priority: prioritySchema.optional().meta({ description: 'this priority and above' }),
  read: z.enum(['true', 'false']).optional().meta({ description: 'v1’s filter: read=false is status=unread, read=true is status=read (status wins)' }),
  type: z.string().min(1).max(100).optional(),
});

export const notificationListQuery = notificationListFields.transform(({ read, status, ...rest }) => ({
  ...rest,
  status: status ?? (read === undefined ? undefined : read === 'true' ? ('read' as const) : ('unread' as const)),
}));

export const notificationIdSchema = z.string().regex(idPattern, 'must be a notification id').transform(BigInt);

const idList = z.array(notificationIdSchema).max(1_000);
export const seenBody = z.object({ ids: idList.optional() }).strict();
export const archiveBody = z
  .object({ ids: idList.optional(), read: z.boolean().optional().meta({ description: 'without ids: archive every read notification (else every one)' }) })
  .strict();

export function ownerOf(req: Request): InboxOwner {
  const user = userOf(req);
  return { userId: user.userId, tenantIds: user.tenants.all ? [] : [...user.tenants.ids] };
}

/** SPEC §5, §5.1: the in-app inbox. Every change also goes out as live frames, so every open tab agrees. */
export function notificationsRouter(deps: { auth: Authenticator; db: Db; frames: FramePublisher; logger: Logger }): Router {
  const router = Router();
  const { db, frames } = deps;

  /**
   * Live frames are best effort: the change is committed, and a tab that misses it catches up on
   * reload. They reach every stream of the person, each of which sees its own tenants' share, and
   * end with the new counts.
   */
  async function announce(owner: InboxOwner, change: StateChange, frame: LiveFrame | null): Promise<void> {
    if (change.updated === 0) return;
    try {
      await frames.toUser(owner.userId, ...(frame ? [frame] : []), unreadCountFrame(change.counts));
    } catch (err) {
      deps.logger.warn({ err, userId: owner.userId }, 'could not publish inbox frames');
    }
  }

  /** A change to one notification by id: 204, or 404 when it is not the caller's (someone else's is not touched). */
  async function changeOne(req: Request, transition: Transition, frameFor: (change: StateChange, id: string) => LiveFrame): Promise<void> {
    const owner = ownerOf(req);
    const parsed = notificationIdSchema.safeParse(pathParam(req, 'id'));
    if (!parsed.success) throw notFound('notification');
    const change = await changeState(db, owner, transition, { ids: [parsed.data] });
    if (change.updated === 0 && !(await ownsNotification(db, owner, parsed.data))) throw notFound('notification');
    await announce(owner, change, frameFor(change, parsed.data.toString()));
  }

  const selectionOf = (ids: bigint[] | undefined): Selection => (ids === undefined ? 'all' : { ids });

  router.get('/api/v1/notifications', deps.auth.user, async (req, res) => {
    const query = parseOrThrow(notificationListQuery, req.query);
    res.json(await listNotifications(db, ownerOf(req), query));
  });

  router.get('/api/v1/notifications/summary', deps.auth.user, async (req, res) => {
    res.json(await summarize(db, ownerOf(req)));
  });

  router.post('/api/v1/notifications/read-all', deps.auth.user, async (req, res) => {
    const owner = ownerOf(req);
    const change = await changeState(db, owner, 'read', 'all');
    const updatedByTenant = Object.fromEntries(Object.entries(change.idsByTenant).map(([tenantId, ids]) => [tenantId, ids.length]));
    await announce(owner, change, { type: 'notifications.read_all', data: { updated: change.updated }, updatedByTenant });
    res.json({ updated: change.updated });
  });

  router.post('/api/v1/notifications/seen', deps.auth.user, async (req, res) => {
    const owner = ownerOf(req);
    const { ids } = parseOrThrow(seenBody, req.body ?? {});
    const change = await changeState(db, owner, 'seen', selectionOf(ids));
    await announce(owner, change, changedRowsFrame('notifications.seen', change.idsByTenant));
    res.json({ updated: change.updated });
  });

  router.post('/api/v1/notifications/archive', deps.auth.user, async (req, res) => {
    const owner = ownerOf(req);
    const { ids, read } = parseOrThrow(archiveBody, req.body ?? {});
    // With ids, exactly those; without, every read one when asked, else every one.
    const change = await changeState(db, owner, 'archive', ids === undefined && read ? 'all read' : selectionOf(ids));
    await announce(owner, change, changedRowsFrame('notification.archived', change.idsByTenant));
    res.json({ updated: change.updated });
  });

  router.post('/api/v1/notifications/:id/read', deps.auth.user, async (req, res) => {
    await changeOne(req, 'read', (change, id) => ({ type: 'notification.read', data: { id }, tenantId: Object.keys(change.idsByTenant)[0] }));
    res.status(204).end();
  });

  router.post('/api/v1/notifications/:id/archive', deps.auth.user, async (req, res) => {
    await changeOne(req, 'archive', (change) => changedRowsFrame('notification.archived', change.idsByTenant));
    res.status(204).end();
  });

  return router;
}
