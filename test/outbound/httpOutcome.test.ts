import { describe, expect, it } from 'vitest';
import { PermanentDeliveryError, RetryLaterError, TransientDeliveryError } from '../../src/errors.ts';
import { classifyHttpOutcome, MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/outbound/httpOutcome.ts';

describe('classifyHttpOutcome', () => {
  it('treats 2xx as delivered', () => {
    expect(classifyHttpOutcome(200, {})).toBeNull();
    expect(classifyHttpOutcome(204, {})).toBeNull();
  });

  it.each([301, 302, 307, 308, 400, 401, 403, 404, 410, 413, 422])('fails %i permanently', (status) => {
    const failure = classifyHttpOutcome(status, {});
    expect(failure).toBeInstanceOf(PermanentDeliveryError);
    expect(failure?.statusCode).toBe(status);
  });

  it.each([408, 500, 502, 504, 429, 503])('retries %i with normal backoff when there is no Retry-After', (status) => {
    const failure = classifyHttpOutcome(status, {});
    expect(failure).toBeInstanceOf(TransientDeliveryError);
    expect(failure?.statusCode).toBe(status);
  });

  it('honours Retry-After in seconds on 429 and 503', () => {
    const tooMany = classifyHttpOutcome(429, { 'retry-after': '2' });
    expect(tooMany).toBeInstanceOf(RetryLaterError);
    expect((tooMany as RetryLaterError).retryAfterMs).toBe(2000);
    expect(tooMany?.statusCode).toBe(429);
    const unavailable = classifyHttpOutcome(503, { 'retry-after': '30' });
    expect((unavailable as RetryLaterError).retryAfterMs).toBe(30_000);
  });

  it('honours Retry-After as an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const failure = classifyHttpOutcome(429, { 'retry-after': 'Wed, 01 Jan 2025 00:01:30 GMT' }, { now });
    expect((failure as RetryLaterError).retryAfterMs).toBe(90_000);
  });

  it('names the destination and the receiver’s explanation', () => {
    const failure = classifyHttpOutcome(404, {}, { destination: 'https://hooks.slack.com/…', detail: 'no_service' });
    expect(failure?.message).toBe('https://hooks.slack.com/… answered HTTP 404: no_service');
  });
});

describe('parseRetryAfter', () => {
  it('caps waits at an hour and floors them at a second', () => {
    expect(parseRetryAfter('86400')).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('0')).toBe(1000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT')).toBe(1000);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfter(undefined)).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter('-5')).toBeNull();
  });
});
