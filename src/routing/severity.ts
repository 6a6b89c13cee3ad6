import { z } from 'zod';
/** The one place that knows the severity order. */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical', 'urgent'] as const;
export type Severity = (typeof SEVERITIES)[number];

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

/** Trims and lower-cases; '' stands for "no severity". Returns null when the value is not a severity. */
export function normalizeSeverity(value: string | null | undefined): Severity | '' | null {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return '';
  return isSeverity(v) ? v : null;
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/**
 * A rule's filter is a minimum: a `high` filter matches high, critical and urgent. An empty
 * filter matches everything, and so does an event without a severity. A stored filter that is
 * not a severity matches nothing: a rule nobody can read must not fire on everything.
 */
export function meetsSeverityFilter(eventSeverity: string | null | undefined, filter: string): boolean {
  const threshold = normalizeSeverity(filter);
  if (threshold === null) return false;
  const severity = normalizeSeverity(eventSeverity);
  if (threshold === '' || severity === '' || severity === null) return true;
  return severityRank(severity) >= severityRank(threshold);
}

/** An input severity: trimmed, lower-cased, '' (or absent/null) for none; anything else names the allowed values. */
export const severityInputSchema = z
  .union([z.string().max(32), z.null()])
  .optional()
  .transform((value, ctx): Severity | '' => {
    const normalized = normalizeSeverity(value);
    if (normalized === null) {
      ctx.addIssue({ code: 'custom', message: `must be empty or one of ${SEVERITIES.join(', ')}` });
      return z.NEVER;
    }
    return normalized;
  })
  // The check runs in a transform, which the API document cannot see; this says what it accepts.
  .meta({ description: `empty or absent for none, else one of ${SEVERITIES.join(', ')} (case-insensitive)` });
