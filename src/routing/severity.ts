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
 * filter matches everything, and so does an event without a severity.
 */
export function meetsSeverityFilter(eventSeverity: Severity | null, filter: Severity | ''): boolean {
  if (filter === '' || eventSeverity === null) return true;
  return severityRank(eventSeverity) >= severityRank(filter);
}
