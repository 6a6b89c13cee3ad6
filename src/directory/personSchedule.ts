import { z } from 'zod';

/**
 * A person's IANA time zone (SPEC §1), stored in its canonical spelling (`europe/berlin` →
 * `Europe/Berlin`); what Intl cannot resolve is refused, naming the field.
 */
export const timezoneSchema = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .transform((value, ctx) => {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone, like Europe/Berlin or UTC' });
      return z.NEVER;
    }
  });

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a time of day as HH:MM, 00:00 to 23:59');

/** Daily quiet hours in the person's time zone; a window may cross midnight (22:00–07:00); start equal to end means none. */
export const quietHoursSchema = z.object({ start: clockTime, end: clockTime }).strict();

export type QuietHours = z.output<typeof quietHoursSchema>;

/** Free-form role names per tenant (SPEC §1): `{ "<tenantId>": ["admin", …] }`. */
export const rolesSchema = z.record(z.string(), z.array(z.string().trim().min(1).max(100)).max(50)).refine((roles) => Object.keys(roles).length <= 1_000, {
  message: 'must name at most 1000 tenants',
});
