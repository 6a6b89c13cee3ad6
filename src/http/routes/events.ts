import { Router } from 'express';
import { z } from 'zod';
import { HttpError } from '../../errors.ts';
import type { Intake } from '../../intake/acceptEvent.ts';
import type { RateLimiter } from '../../intake/rateLimit.ts';
import { parseOrThrow } from '../../validation.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';

// Each event is checked on its own by the intake, so one bad event is a rejected result, not a 400 for the batch.
export const batchBody = z.object({ events: z.array(z.unknown()).min(1).max(1000) });

/** SPEC §2: publishing events. */
export function eventsRouter(deps: { auth: Authenticator; intake: Intake; rateLimit: RateLimiter }): Router {
  const router = Router();

  async function enforceRate(keyId: string, count: number): Promise<void> {
    const decision = await deps.rateLimit(keyId, count);
    if (!decision.allowed) {
      throw new HttpError(429, 'rate_limited', 'over this key’s event rate', [], {
        'Retry-After': String(decision.retryAfterSeconds),
      });
    }
  }

  router.post('/api/v1/events', deps.auth.service, async (req, res) => {
    const principal = principalOf(req);
    if (principal.kind === 'service') await enforceRate(principal.keyId, 1);
    const result = await deps.intake.acceptEvent(req.body, principal.tenants);
    res.status(result.status === 'accepted' ? 202 : 200).json(result);
  });

  router.post('/api/v1/events/batch', deps.auth.service, async (req, res) => {
    const principal = principalOf(req);
    const { events } = parseOrThrow(batchBody, req.body);
    if (principal.kind === 'service') await enforceRate(principal.keyId, events.length);
    const results = await deps.intake.acceptEvents(events, principal.tenants);
    res.status(200).json({
      results: results.map((r) => (r.status === 'rejected' ? { id: r.id, status: r.status, error: r.error } : r)),
    });
  });

  return router;
}
