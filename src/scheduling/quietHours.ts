import type { QuietHours } from '../directory/personSchedule.ts';

/** A wall-clock reading in some time zone. */
type WallClock = { year: number; month: number; day: number; hour: number; minute: number; second: number };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function wallClock(instant: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instant)) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/** How far the zone's clock is ahead of UTC at `instant`, in ms. */
function offsetAt(instant: number, timeZone: string): number {
  const wall = wallClock(instant, timeZone);
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second) - Math.floor(instant / 1_000) * 1_000;
}

/**
 * The first instant at or after which the zone's clock reads `year-month-day hour:minute`. When
 * the clock skips that time (spring forward), it is the moment of the jump; when it reads it twice
 * (fall back), the first time.
 */
function instantOfWallTime(year: number, month: number, day: number, hour: number, minute: number, timeZone: string): number {
  const asUtc = Date.UTC(year, month - 1, day, hour, minute);
  // The zone's offset is one of the offsets around that time: try the earlier and the later.
  const candidates = [...new Set([offsetAt(asUtc - 86_400_000, timeZone), offsetAt(asUtc + 86_400_000, timeZone), offsetAt(asUtc, timeZone)])]
    .map((offset) => asUtc - offset)
    .filter((instant) => {
      const wall = wallClock(instant, timeZone);
      return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute) === asUtc;
    });
  if (candidates.length > 0) return Math.min(...candidates);
  // Skipped by a jump: the clock reaches past it at the transition, which lies between the two readings.
  let low = asUtc - offsetAt(asUtc - 86_400_000, timeZone);
  let high = asUtc - offsetAt(asUtc + 86_400_000, timeZone);
  if (low > high) [low, high] = [high, low];
  while (high - low > 1_000) {
    const mid = low + Math.floor((high - low) / 2);
    const wall = wallClock(mid, timeZone);
    if (Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute) < asUtc) low = mid;
    else high = mid;
  }
  return high;
}

const minutesOf = (clock: string): number => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));

/**
 * When a person's quiet hours (SPEC §4.1) that hold `instant` end, or null when `instant` is
 * outside them. The window is read on the person's wall clock: `22:00`–`07:00` crosses midnight,
 * and across a DST change it still ends at 07:00 local time, however many hours that makes it.
 * `start` equal to `end` means no quiet hours. Pure: the clock is an argument.
 */
export function quietHoursEnd(instant: Date, timeZone: string, quietHours: QuietHours | null | undefined): Date | null {
  if (!quietHours) return null;
  const start = minutesOf(quietHours.start);
  const end = minutesOf(quietHours.end);
  if (start === end) return null;
  const wall = wallClock(instant.getTime(), timeZone);
  const now = wall.hour * 60 + wall.minute;
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  // The end falls today when it is still ahead on today's clock, else tomorrow.
  const today = Date.UTC(wall.year, wall.month - 1, wall.day);
  const endDay = new Date(now < end ? today : today + 86_400_000);
  const ends = instantOfWallTime(endDay.getUTCFullYear(), endDay.getUTCMonth() + 1, endDay.getUTCDate(), Math.floor(end / 60), end % 60, timeZone);
  return new Date(Math.max(ends, instant.getTime()));
}

/** `instant`, or the end of the quiet hours it falls in: when a held message may go out. */
export function afterQuietHours(instant: Date, timeZone: string, quietHours: QuietHours | null | undefined): Date {
  return quietHoursEnd(instant, timeZone, quietHours) ?? instant;
}
