import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, signWebhook } from '../../src/outbound/webhookSigning.ts';

describe('webhook signing (Standard Webhooks)', () => {
  it('generates whsec_ secrets of 24 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(24);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it('produces headers the reference library verifies', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'deploy.finished', data: { id: 'évènement' } });
    const headers = signWebhook({ secret, msgId: 'msg_2Lk', timestamp: new Date(), body });
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('matches the reference library’s signature byte for byte', () => {
    const secret = generateWebhookSecret();
    const timestamp = new Date('2025-03-01T12:00:00.750Z');
    const headers = signWebhook({ secret, msgId: 'msg_1', timestamp, body: '{"a":1}' });
    expect(headers['webhook-timestamp']).toBe('1740830400');
    expect(headers['webhook-signature']).toBe(new Webhook(secret).sign('msg_1', timestamp, '{"a":1}'));
  });

  it('fails verification when the body was altered', () => {
    const secret = generateWebhookSecret();
    const headers = signWebhook({ secret, msgId: 'msg_1', timestamp: new Date(), body: '{"amount":1}' });
    expect(() => new Webhook(secret).verify('{"amount":100}', headers)).toThrow();
  });

  // That webhook-id stays the same across retries of one delivery is the worker's doing, tested
  // where it can break: test/channels/webhook.test.ts ('retries a 500 with the same webhook-id').
});
