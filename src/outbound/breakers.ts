import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleAll, isBrokenCircuitError, type CircuitBreakerPolicy } from 'cockatiel';
import { DeliveryDeferredError, DeliveryFailure, TransientDeliveryError } from '../errors.ts';

/**
 * One circuit breaker per destination (SPEC §4: 5 consecutive failures → open 60 s), so a dead
 * receiver stops costing a timeout per job while every other destination keeps flowing. A
 * destination is a whole URL, not its host (SPEC §7.1): tenants share hosts — every Logic App
 * of a region, every Slack hook — and one tenant's failing endpoint must not hold back another's.
 */
export type BreakerRegistry = {
  /** The breaker for a destination (its URL, or the relay's `host:port`); run the send in `execute`. */
  forDestination(key: string): CircuitBreakerPolicy;
  /**
   * When the destination's breaker will let a trial call through (epoch ms), or null when calls
   * may go now. A worker delays its job until then instead of spending an attempt on a
   * BrokenCircuitError.
   */
  openUntil(key: string, now?: number): number | null;
};

// How long callers wait while a half-open trial call is still running; it settles within one send.
const HALF_OPEN_RECHECK_MS = 1000;
// Destinations are URLs now, as many as there are webhooks, chat hooks and push devices: past this
// many breakers the closed ones are forgotten (a closed breaker holds at most a few failures).
const MAX_BREAKERS = 10_000;

export function createBreakerRegistry(options: { threshold?: number; openMs?: number } = {}): BreakerRegistry {
  const threshold = options.threshold ?? 5;
  const openMs = options.openMs ?? 60_000;
  const breakers = new Map<string, { policy: CircuitBreakerPolicy; openedAt: number }>();

  function forDestination(key: string): CircuitBreakerPolicy {
    const existing = breakers.get(key);
    if (existing) return existing.policy;
    if (breakers.size >= MAX_BREAKERS) {
      for (const [k, entry] of breakers) if (entry.policy.state === CircuitState.Closed) breakers.delete(k);
    }
    const policy = circuitBreaker(handleAll, { halfOpenAfter: openMs, breaker: new ConsecutiveBreaker(threshold) });
    const entry = { policy, openedAt: 0 };
    // cockatiel does not expose when it opened, and "until when" is what a worker needs.
    policy.onBreak(() => {
      entry.openedAt = Date.now();
    });
    breakers.set(key, entry);
    return policy;
  }

  function openUntil(key: string, now: number = Date.now()): number | null {
    const entry = breakers.get(key);
    if (!entry) return null;
    // Half-open means a trial call is in flight; cockatiel refuses the others meanwhile.
    if (entry.policy.state === CircuitState.HalfOpen) return now + HALF_OPEN_RECHECK_MS;
    if (entry.policy.state !== CircuitState.Open) return null;
    const until = entry.openedAt + openMs;
    return until > now ? until : null;
  }

  return { forDestination, openUntil };
}

/** A destination as a breaker knows it: `key` names its breaker (a URL never leaves the process), `label` is safe to log. */
export type BreakerDestination = { key: string; label: string };

/** Throws DeliveryDeferredError while the destination's circuit is open, so the send is not made and no try is spent. */
export function deferWhileOpen(breakers: BreakerRegistry, destination: BreakerDestination): void {
  const until = breakers.openUntil(destination.key);
  if (until !== null) throw new DeliveryDeferredError(destination.label, until);
}

/**
 * The one way a channel sends to a destination: not at all while its circuit is open
 * (DeliveryDeferredError), else through its breaker. Only transient failures — timeouts, 5xx,
 * dropped connections, a relay that cannot be reached — count towards opening it: a permanent
 * refusal or a Retry-After comes from a destination that is up, so it passes the breaker as a
 * value and is thrown after. Anything `send` throws that is not a DeliveryFailure is transient.
 */
export async function sendThroughBreaker<T>(breakers: BreakerRegistry, destination: BreakerDestination, send: () => Promise<T>): Promise<T> {
  deferWhileOpen(breakers, destination);
  let outcome: { sent: T } | { refused: DeliveryFailure };
  try {
    outcome = await breakers.forDestination(destination.key).execute(async () => {
      try {
        return { sent: await send() };
      } catch (err) {
        const failure = err instanceof DeliveryFailure ? err : new TransientDeliveryError(`${destination.label}: ${(err as Error).message}`);
        if (failure instanceof TransientDeliveryError) throw failure;
        return { refused: failure };
      }
    });
  } catch (err) {
    // Opened by a concurrent send since the check above.
    if (isBrokenCircuitError(err)) throw new DeliveryDeferredError(destination.label, breakers.openUntil(destination.key) ?? Date.now() + 1_000);
    throw err;
  }
  if ('refused' in outcome) throw outcome.refused;
  return outcome.sent;
}
