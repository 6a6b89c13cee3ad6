import { timingSafeEqual, createHash } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Router, type RequestHandler } from 'express';
import type { Queues } from '../../queues/catalog.ts';
import { forbidden, HttpError } from '../../errors.ts';
import type { Authenticator } from '../authenticate.ts';

export const QUEUE_BOARD_PATH = '/admin/queues';

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * Operators only (SPEC §7.1): the board shows and controls every tenant's queues (pause, empty,
 * obliterate, re-add, read job data), so only credentials that already span every tenant open
 * it — HTTP basic auth with the configured `user:password`, or a service key for every tenant.
 * Anything else that authenticates (a tenant admin's token, a tenant-scoped key) is a 403.
 */
function boardAccess(auth: Authenticator, basicAuth: string | undefined): RequestHandler {
  const expected = basicAuth ? sha256(basicAuth) : null;
  return async (req, res, next) => {
    const header = req.headers.authorization ?? '';
    if (expected && header.toLowerCase().startsWith('basic ')) {
      const presented = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      if (timingSafeEqual(sha256(presented), expected)) return next();
    }
    const principal = await auth.identify(req);
    if (principal?.kind === 'service' && principal.tenants.all) return next();
    if (principal) return next(forbidden('the queue board spans every tenant: it needs the operator password or a service key for every tenant'));
    if (expected) res.setHeader('WWW-Authenticate', 'Basic realm="Herald queues", charset="UTF-8"');
    next(new HttpError(401, 'unauthorized', 'the queue board needs the operator password or a service key for every tenant'));
  };
}

/** SPEC §8: Bull Board over every Herald queue, at /admin/queues. */
export function queueBoardRouter(deps: { auth: Authenticator; queues: Queues; adminBasicAuth?: string | undefined }): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: Object.values(deps.queues).map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Herald queues' } },
  });
  const router = Router();
  router.use(QUEUE_BOARD_PATH, boardAccess(deps.auth, deps.adminBasicAuth), serverAdapter.getRouter());
  return router;
}
