import { setTimeout as sleepFor } from 'node:timers/promises';
import type { ServiceKeyStore } from '../auth/serviceKeys.ts';
import type { AcceptResult, Intake } from '../intake/acceptEvent.ts';
import type { Logger } from '../logger.ts';

export type BusName = 'redis' | 'nats';

/** What a bus message carries, whichever bus it came on: the envelope as JSON text and an optional service key. */
export type BusMessage = { event: string | undefined; key: string | undefined };

/**
 * What to do with a bus message: acknowledge it (its event is committed, now or earlier), or
 * dead-letter it with a reason. An error thrown instead means "not now": the database is away,
 * so the message stays unacknowledged and comes back.
 */
export type BusDecision =
  | { action: 'ack'; eventId: string; status: 'accepted' | 'duplicate' }
  | { action: 'dead'; reason: string; eventId?: string };

/** How a listener settled one message. */
export type BusOutcome = 'acked' | 'dead' | 'retry';

/** Messages moved to a dead-letter place since start, per bus; /metrics exports it once metrics land. */
export const deadLetterCounter: Record<BusName, number> = { redis: 0, nats: 0 };

export type BusAcceptorDeps = { intake: Intake; serviceKeys: ServiceKeyStore; defaultKey?: string | undefined };

/**
 * The bus's front door to the one accept path: resolves the message's key to a tenant scope,
 * decodes the envelope, and lets the intake validate, dedupe and store it exactly as for HTTP.
 */
export function createBusAcceptor({ intake, serviceKeys, defaultKey }: BusAcceptorDeps) {
  return async function decide(message: BusMessage): Promise<BusDecision> {
    const key = message.key ?? defaultKey;
    if (key === undefined) return dead('no key on the message and BUS_DEFAULT_KEY is not set');
    const principal = serviceKeys.authenticate(key);
    if (!principal) return dead('unknown service key');
    if (message.event === undefined) return dead('no event field');
    let raw: unknown;
    try {
      raw = JSON.parse(message.event);
    } catch (err) {
      return dead(`invalid JSON in event: ${(err as Error).message}`);
    }
    const [result] = await intake.acceptEvents([raw], principal.tenants, ENVELOPE_FIELD);
    if (!result) throw new Error('intake returned no result');
    if (result.status === 'rejected') return { action: 'dead', reason: describeRejection(result), eventId: result.id || undefined };
    return { action: 'ack', eventId: result.id, status: result.status };
  };
}

export type BusAcceptor = ReturnType<typeof createBusAcceptor>;

export type BusMessageHandler = (message: BusMessage, sourceId: string, deadLetter: (reason: string) => Promise<void>) => Promise<BusOutcome>;

/**
 * The decision every listener applies the same way: a dead letter is recorded (the listener's
 * `deadLetter` writes the record and acknowledges in one step) and counted; any failure — the
 * database, or the dead-letter write itself — leaves the message for a later try.
 * The caller acknowledges `acked` messages, as its bus does best (one XACK per batch, one ack per message).
 */
export function createBusMessageHandler(bus: BusName, decide: BusAcceptor, logger: Logger): BusMessageHandler {
  return async (message, sourceId, deadLetter) => {
    let decision: BusDecision;
    try {
      decision = await decide(message);
    } catch (err) {
      logger.warn({ err, bus, sourceId }, 'bus message not accepted now; will retry');
      return 'retry';
    }
    if (decision.action === 'ack') {
      logger.debug({ bus, sourceId, eventId: decision.eventId, status: decision.status }, 'bus event accepted');
      return 'acked';
    }
    try {
      await deadLetter(decision.reason);
    } catch (err) {
      logger.warn({ err, bus, sourceId }, 'could not dead-letter a bus message; will retry');
      return 'retry';
    }
    deadLetterCounter[bus]++;
    logger.warn({ bus, sourceId, eventId: decision.eventId, reason: decision.reason }, 'bus message dead-lettered');
    return 'dead';
  };
}

/**
 * Exponential backoff with jitter, for a listener that keeps meeting an outage: it must not spin,
 * and several workers must not come back in lockstep.
 */
export function createBackoff(baseMs = 250, maxMs = 30_000) {
  let attempt = 0;
  return {
    next(): number {
      const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return ceiling / 2 + Math.random() * (ceiling / 2);
    },
    reset(): void {
      attempt = 0;
    },
  };
}

/** Waits, or returns early once `signal` aborts (a listener closing must not sit out a backoff). */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleepFor(ms, undefined, { signal }).catch(() => {});
}

const ENVELOPE_FIELD = 'event';

type Rejection = Extract<AcceptResult, { status: 'rejected' }>;

/** The intake names fields as in a batch (`event.0.type`); a bus message holds one envelope, so the reason names `type`. */
function describeRejection(rejection: Rejection): string {
  const details = rejection.details ?? [];
  if (details.length === 0) return `${rejection.code}: ${rejection.error}`;
  const batchPrefix = `${ENVELOPE_FIELD}.0`;
  const fields = details.map((d) => `${d.field === batchPrefix ? '(event)' : d.field.replace(`${batchPrefix}.`, '')}: ${d.message}`);
  return `${rejection.code}: ${fields.join('; ')}`;
}

function dead(reason: string): BusDecision {
  return { action: 'dead', reason };
}
