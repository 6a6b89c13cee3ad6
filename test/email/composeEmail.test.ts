import { describe, expect, it } from 'vitest';
import { composeEmail, parseMailbox } from '../../src/email/composeEmail.ts';

describe('composing an email', () => {
  it('composes headers that cannot be split and addresses that are checked', () => {
    expect(parseMailbox('Alerts "Team" <alerts@herald.test>')).toEqual({ name: 'Alerts Team', address: 'alerts@herald.test' });
    expect(parseMailbox('not an address')).toBeNull();
    const message = composeEmail({
      from: { name: 'Herald', address: 'alerts@herald.test' },
      to: { name: 'Mallory\r\nBcc: x@example.com', address: 'm@example.com' },
      replyTo: 'bad\r\naddress',
      content: { subject: 'Hi\r\nX-Evil: 1', html: '<p>x</p>', text: 'x' },
      eventId: 'evt\r\nX-Evil: 2',
      tenantId: 'acme',
    });
    expect(message.subject).toBe('Hi X-Evil: 1');
    expect(message.to).toEqual({ name: 'Mallory Bcc: x@example.com', address: 'm@example.com' });
    expect(message.replyTo).toBeUndefined();
    expect((message.headers as Record<string, string>)['X-Herald-Event-Id']).toBe('evt X-Evil: 2');
    expect(message.references).toBe(`<herald.event.${Buffer.from('evt\r\nX-Evil: 2').toString('base64url')}@herald.test>`);
  });
});
