import { timingSafeEqual, createHash } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Router, type RequestHandler } from 'express';
import type { Queues } from '../../queues/catalog.ts';
import { HttpError } from '../../errors.ts';
import type { Authenticator } from '../authenticate.ts';

export const QUEUE_BOARD_PATH = '/admin/queues';

const sha256 = (value: string) => createHash('sha256').update(value).digest();

/**
 * Admins only (SPEC §8): an admin user token (header or cookie), HTTP basic auth with the
 * configured `user:password`, or a service key for every tenant. The board is an operator's
 * view: it shows (job ids only — payloads carry no content) and controls every tenant's queues,
 * so a service key scoped to some tenants is refused, and admin tokens should be issued to
 * operators only.
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
    if (principal?.kind === 'user' && principal.role === 'admin') return next();
    if (principal?.kind === 'service' && principal.tenants.all) return next();
    if (expected) res.setHeader('WWW-Authenticate', 'Basic realm="Herald queues", charset="UTF-8"');
    next(new HttpError(401, 'unauthorized', 'the queue board needs an admin token, the operator password or a service key for every tenant'));
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
