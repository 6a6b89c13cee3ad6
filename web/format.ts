/** Small text helpers for the bell: the badge, relative times, type names. */

export const BADGE_CAP = 99;

/** The badge counts unseen notifications: the ones that arrived since the person last looked. */
export function badgeText(unseen: number): string {
  return unseen > BADGE_CAP ? `${BADGE_CAP}+` : String(unseen);
}

export function bellLabel(unseen: number): string {
  if (unseen <= 0) return 'Notifications, nothing new';
  return `Notifications, ${unseen > BADGE_CAP ? `more than ${BADGE_CAP}` : unseen} new`;
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto', style: 'short' });
const dateOnly = new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric' });
const dateWithYear = new Intl.DateTimeFormat('en', { year: 'numeric', month: 'short', day: 'numeric' });
export const fullDate = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });

/** "just now", "5 min. ago", "3 hr. ago", "yesterday", then a date. */
export function relativeTime(iso: string, now = Date.now()): string {
  const then = new Date(iso).getTime();
  const seconds = Math.round((then - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  if (abs < 3_600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(seconds / 3_600), 'hour');
  if (abs < 7 * 86_400) return relative.format(Math.round(seconds / 86_400), 'day');
  const date = new Date(then);
  return (date.getFullYear() === new Date(now).getFullYear() ? dateOnly : dateWithYear).format(date);
}

const ACRONYMS = new Set(['api', 'cve', 'ci', 'pr', 'sla', 'sso', 'url']);

/** `finding_created` → `Finding created`, `sla_breached` → `SLA breached`. */
export function humanize(type: string): string {
  const words = type
    .replace(/[._:-]+/g, ' ')
    .trim()
    .split(/\s+/)
    .map((word) => (ACRONYMS.has(word.toLowerCase()) ? word.toUpperCase() : word));
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0]!.charAt(0) + parts[parts.length - 1]!.charAt(0) : (parts[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

/** bell.css has a `.tone-N` colour for each. */
const AVATAR_TONES = 8;

/** A stable colour for a person's avatar, from their id. */
export function paletteIndex(id: string): number {
  let hash = 0;
  for (const char of id) hash = (hash * 31 + char.codePointAt(0)!) >>> 0;
  return hash % AVATAR_TONES;
}

/** Only http(s) links become clickable, whatever an event's data held. */
export function safeHref(url: string | null): string | null {
  if (!url) return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}
