import { describe, expect, it } from 'vitest';
import { checkOutboundUrl, isAllowListed } from '../../src/outbound/urlPolicy.ts';
import { GOOD_URLS, HOSTILE_URLS } from './hostileUrls.ts';

describe('checkOutboundUrl (save time)', () => {
  it.each(HOSTILE_URLS)('refuses $kind $url ($why)', ({ url, kind }) => {
    const verdict = checkOutboundUrl(url, kind, []);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) expect(verdict.reason).toMatch(/\S/);
  });

  it.each(GOOD_URLS)('accepts $kind $url', ({ url, kind }) => {
    expect(checkOutboundUrl(url, kind, [])).toMatchObject({ ok: true });
  });

  it('names the kind of address it refused', () => {
    expect(checkOutboundUrl('https://169.254.169.254/', 'webhook', [])).toEqual({
      ok: false,
      reason: 'must not point at a cloud metadata address',
    });
    expect(checkOutboundUrl('https://[::ffff:7f00:1]/', 'webhook', [])).toEqual({
      ok: false,
      reason: 'must not point at a loopback address (IPv4-mapped)',
    });
  });

  it('refuses public-looking hosts for Slack and Teams when the host is not theirs', () => {
    expect(checkOutboundUrl('https://example.com/services/x', 'slack', []).ok).toBe(false);
    expect(checkOutboundUrl('https://example.com/webhookb2/x', 'teams', []).ok).toBe(false);
    expect(checkOutboundUrl('https://evil.logic.azure.com/workflows/x', 'teams', []).ok).toBe(false);
  });
});

describe('OUTBOUND_ALLOW_HOSTS', () => {
  it('lets a listed host:port use http and a private address', () => {
    expect(checkOutboundUrl('http://127.0.0.1:4567/hook', 'webhook', ['127.0.0.1:4567']).ok).toBe(true);
    expect(checkOutboundUrl('http://127.0.0.1:4567/hook', 'slack', ['127.0.0.1:4567']).ok).toBe(true);
  });

  it('lets a bare host entry match any port', () => {
    expect(checkOutboundUrl('http://receiver.test:9000/hook', 'webhook', ['receiver.test']).ok).toBe(true);
  });

  it('does not stretch a host:port entry to other ports', () => {
    expect(checkOutboundUrl('http://127.0.0.1:4568/hook', 'webhook', ['127.0.0.1:4567']).ok).toBe(false);
    expect(checkOutboundUrl('https://127.0.0.1/hook', 'webhook', ['127.0.0.1:4567']).ok).toBe(false);
  });

  it('still refuses credentials and other schemes', () => {
    expect(checkOutboundUrl('http://u:p@127.0.0.1:4567/', 'webhook', ['127.0.0.1:4567']).ok).toBe(false);
    expect(checkOutboundUrl('ftp://127.0.0.1:4567/', 'webhook', ['127.0.0.1:4567']).ok).toBe(false);
  });

  it('matches IPv6 hosts without brackets and default ports', () => {
    expect(isAllowListed(new URL('http://[::1]/'), ['::1:80'])).toBe(true);
    expect(isAllowListed(new URL('https://Receiver.Test/'), ['receiver.test:443'])).toBe(true);
    expect(isAllowListed(new URL('https://receiver.test/'), [])).toBe(false);
  });
});
