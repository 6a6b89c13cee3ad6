/**
 * A rule's `eventType`: an exact type, or a pattern in which `*` matches any run of characters,
 * dots included (SPEC §3.1): `provisioning.*`, `*.failed`, `*`. Everything else is literal.
 */
export const EVENT_PATTERN = /^[A-Za-z0-9._:*-]{1,100}$/;

/**
 * Whether an event type matches a pattern. Not a regular expression: a tenant's pattern such as
 * `*a*a*a…b` would make one backtrack for ages on every event. This walks both strings once,
 * going back only to the last `*` seen, so it takes at most length × length steps.
 */
export function matchesEventPattern(pattern: string, eventType: string): boolean {
  if (!pattern.includes('*')) return pattern === eventType;
  let p = 0;
  let t = 0;
  let lastStar = -1;
  let resumeAt = 0;
  while (t < eventType.length) {
    if (p < pattern.length && pattern[p] === '*') {
      lastStar = p++;
      resumeAt = t;
    } else if (p < pattern.length && pattern[p] === eventType[t]) {
      p++;
      t++;
    } else if (lastStar >= 0) {
      // Let the last star take one more character, and try the rest again from there.
      p = lastStar + 1;
      t = ++resumeAt;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}
