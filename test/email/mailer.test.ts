import { describe, expect, it } from 'vitest';
import { classifySmtpError } from '../../src/email/mailer.ts';
import { PermanentDeliveryError, TransientDeliveryError } from '../../src/errors.ts';

describe('classifying SMTP failures', () => {
  const smtpError = (code: string, responseCode?: number) => Object.assign(new Error(`failed ${responseCode ?? ''}`), { code, responseCode });

  it('fails 5xx replies at once and retries 4xx replies, connection trouble, timeouts and bad credentials', () => {
    expect(classifySmtpError(smtpError('EENVELOPE', 550))).toBeInstanceOf(PermanentDeliveryError);
    expect(classifySmtpError(smtpError('EMESSAGE', 552))).toBeInstanceOf(PermanentDeliveryError);
    expect(classifySmtpError(smtpError('EENVELOPE'))).toBeInstanceOf(PermanentDeliveryError);
    for (const err of [smtpError('EENVELOPE', 451), smtpError('EPROTOCOL', 421), smtpError('ESOCKET'), smtpError('ETIMEDOUT'), smtpError('ECONNECTION'), smtpError('EAUTH', 535), new Error('timed out after 30000 ms')]) {
      expect(classifySmtpError(err), err.message).toBeInstanceOf(TransientDeliveryError);
    }
    expect(classifySmtpError(smtpError('EENVELOPE', 550))).toMatchObject({ statusCode: 550 });
  });
});
