import { describe, expect, it } from 'vitest';
import { preferencesSchema, wantsChannel } from '../../src/routing/preferences.ts';
import { meetsSeverityFilter, normalizeSeverity } from '../../src/routing/severity.ts';

describe('wantsChannel', () => {
  it.each([
    ['inapp', true],
    ['email', true],
    ['push', true],
    ['slack', false],
    ['teams', false],
  ] as const)('defaults %s to %s when unset', (channel, expected) => {
    expect(wantsChannel({}, 'finding_created', channel)).toBe(expected);
  });

  it('reads the namespaced key first, then the legacy key', () => {
    expect(wantsChannel({ new_finding_email: false }, 'finding_created', 'email')).toBe(false);
    expect(wantsChannel({ new_finding_email: false, 'finding_created.email': true }, 'finding_created', 'email')).toBe(true);
    expect(wantsChannel({ new_finding_email: false }, 'finding_created', 'inapp')).toBe(true);
  });

  it('ignores stored values that are not booleans', () => {
    expect(wantsChannel({ 'finding_created.email': 'no' } as never, 'finding_created', 'email')).toBe(true);
  });
});

describe('preferencesSchema', () => {
  it('accepts namespaced and legacy keys with boolean values', () => {
    const matrix = { 'finding_created.email': false, 'sla_breached.slack': true, new_finding_email: true, scan_complete_email: false, sla_breach_email: true };
    expect(preferencesSchema.parse(matrix)).toEqual(matrix);
  });

  it.each([
    ['an unknown channel', { 'finding_created.fax': true }, 'finding_created.fax'],
    ['a key without a channel', { finding_created: true }, 'finding_created'],
    ['a non-boolean value', { 'finding_created.email': 'off' }, 'finding_created.email'],
    ['an inherited name', { constructor: true }, 'constructor'],
    ['__proto__', JSON.parse('{"__proto__": true}'), '__proto__'],
  ])('refuses %s, naming the key', (_name, input, key) => {
    const result = preferencesSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain(key);
  });

  it.each([[[]], [null], ['x']])('refuses %j as a matrix', (input) => {
    expect(preferencesSchema.safeParse(input).success).toBe(false);
  });
});

describe('severity', () => {
  it('normalizes case and whitespace and refuses unknown values', () => {
    expect(normalizeSeverity(' Critical ')).toBe('critical');
    expect(normalizeSeverity('')).toBe('');
    expect(normalizeSeverity(null)).toBe('');
    expect(normalizeSeverity('severe')).toBeNull();
  });

  it('treats a filter as a minimum and an event without severity as matching', () => {
    expect(meetsSeverityFilter('high', 'high')).toBe(true);
    expect(meetsSeverityFilter('urgent', 'high')).toBe(true);
    expect(meetsSeverityFilter('medium', 'high')).toBe(false);
    expect(meetsSeverityFilter(null, 'urgent')).toBe(true);
    expect(meetsSeverityFilter('info', '')).toBe(true);
    expect(meetsSeverityFilter('urgent', 'bogus')).toBe(false);
  });
});
