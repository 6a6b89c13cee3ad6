import { describe, expect, it } from 'vitest';
import { afterQuietHours, quietHoursEnd } from '../../src/scheduling/quietHours.ts';

const night = { start: '22:00', end: '07:00' };

describe('quietHoursEnd (SPEC §4.1), with fixed clocks', () => {
  it.each([
    // instant (UTC), time zone, quiet hours, end (UTC) or null
    ['2026-06-10T23:00:00Z', 'UTC', night, '2026-06-11T07:00:00Z'],
    ['2026-06-10T22:00:00Z', 'UTC', night, '2026-06-11T07:00:00Z'],
    ['2026-06-11T06:59:59Z', 'UTC', night, '2026-06-11T07:00:00Z'],
    ['2026-06-11T00:00:00Z', 'UTC', night, '2026-06-11T07:00:00Z'],
    ['2026-06-11T07:00:00Z', 'UTC', night, null],
    ['2026-06-10T21:59:00Z', 'UTC', night, null],
    ['2026-06-10T12:00:00Z', 'UTC', { start: '09:00', end: '17:00' }, '2026-06-10T17:00:00Z'],
    ['2026-06-10T08:59:00Z', 'UTC', { start: '09:00', end: '17:00' }, null],
    ['2026-06-10T17:00:00Z', 'UTC', { start: '09:00', end: '17:00' }, null],
    ['2026-06-10T12:00:00Z', 'UTC', { start: '12:00', end: '12:00' }, null],
    ['2026-06-10T12:00:00Z', 'UTC', null, null],
    // Berlin in summer (UTC+2): 23:30 local.
    ['2026-06-10T21:30:00Z', 'Europe/Berlin', night, '2026-06-11T05:00:00Z'],
    // Tokyo (UTC+9, no DST): 06:00 local.
    ['2026-06-10T21:00:00Z', 'Asia/Tokyo', night, '2026-06-10T22:00:00Z'],
    // Kathmandu (UTC+5:45): 22:15 local.
    ['2026-06-10T16:30:00Z', 'Asia/Kathmandu', night, '2026-06-11T01:15:00Z'],
    // Berlin springs forward on 29 March 2026, 02:00 → 03:00: a night of 8 hours ends at 07:00 CEST.
    ['2026-03-28T21:30:00Z', 'Europe/Berlin', night, '2026-03-29T05:00:00Z'],
    // ... and falls back on 25 October 2026, 03:00 → 02:00: a night of 10 hours ends at 07:00 CET.
    ['2026-10-24T21:00:00Z', 'Europe/Berlin', night, '2026-10-25T06:00:00Z'],
    // New York springs forward on 8 March 2026: 02:30 never happens, so quiet hours to 02:30 end at the jump (03:00 EDT).
    ['2026-03-08T06:30:00Z', 'America/New_York', { start: '01:00', end: '02:30' }, '2026-03-08T07:00:00Z'],
    // New York falls back on 1 November 2026: 01:30 happens twice; quiet hours end at the first.
    ['2026-11-01T04:45:00Z', 'America/New_York', { start: '00:00', end: '01:30' }, '2026-11-01T05:30:00Z'],
    // Sydney (southern hemisphere) springs forward on 4 October 2026, 02:00 → 03:00.
    ['2026-10-03T12:00:00Z', 'Australia/Sydney', night, '2026-10-03T20:00:00Z'],
  ] as const)('%s in %s, %j → %s', (instant, timeZone, quiet, expected) => {
    const end = quietHoursEnd(new Date(instant), timeZone, quiet);
    expect(end?.toISOString() ?? null).toBe(expected === null ? null : new Date(expected).toISOString());
  });

  it('lets a message outside quiet hours go at once, and holds one inside until their end', () => {
    expect(afterQuietHours(new Date('2026-06-10T12:00:00Z'), 'UTC', night).toISOString()).toBe('2026-06-10T12:00:00.000Z');
    expect(afterQuietHours(new Date('2026-06-10T23:00:00Z'), 'UTC', night).toISOString()).toBe('2026-06-11T07:00:00.000Z');
  });
});
