import { Router } from 'express';
import { z } from 'zod';
import { forbidden, HttpError } from '../../errors.ts';
import type { Intake, Rejection } from '../../intake/acceptEvent.ts';
import type { RateLimiter } from '../../intake/rateLimit.ts';
import { principalOf, type Authenticator } from '../authenticate.ts';
import { parseOrThrow } from '../params.ts';

// Each event is checked on its own by the intake, so one bad event is a rejected result, not a 400 for the batch.
export const batchBody = z.object({ events: z.array(z.unknown()).min(1).max(1000) });

/** The answer SPEC §2 names for an event the intake rejected: 400 naming the field, 403 out of scope, 422 unknown tenant. */
export function rejectionToHttpError(result: Rejection): HttpError {
  if (result.code === 'forbidden') return forbidden(result.error.replace(/^tenantId: /, ''));
  if (result.code === 'unknown_tenant') return new HttpError(422, 'unknown_tenant', result.error.replace(/^tenantId: /, ''));
  return new HttpError(400, 'invalid_request', result.error, result.details ?? []);
}

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
    if (result.status === 'rejected') throw rejectionToHttpError(result);
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
