import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleAll, type CircuitBreakerPolicy } from 'cockatiel';

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
