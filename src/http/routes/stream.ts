import { Router } from 'express';
import type { SseHub } from '../../realtime/sseHub.ts';
import { type Authenticator } from '../authenticate.ts';
import { ownerOf } from './notifications.ts';

/** SPEC §6: the live stream of the signed-in user. */
export function streamRouter(deps: { auth: Authenticator; hub: SseHub }): Router {
  const router = Router();
  router.get('/api/v1/events', deps.auth.user, async (req, res) => {
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    await deps.hub.open(req, res, ownerOf(req));
  });
  return router;
}
