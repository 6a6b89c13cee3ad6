import { facts, link, paragraph, value, type PlatformEvent } from './platformEmails.ts';

/**
 * The customer's side of the identity events (SPEC §3.2). The welcome email carries a
 * set-password link, never a password: a password in a mailbox outlives every reset.
 */
export const identityEvents: PlatformEvent[] = [
  {
    type: 'identity.user-created',
    inapp: {
      title: 'Welcome{{#if data.username}}, {{data.username}}{{/if}}',
      body: 'Your account is ready. Choose your password with the link in your welcome email.',
      url: '{{data.loginUrl}}',
    },
    email: {
      subject: 'Your {{brand.companyName}} account is ready',
      heading: 'Welcome to {{brand.companyName}}',
      intro: 'An account has been created for you. Choose a password with the link below, then sign in with your username.',
      blocks: [
        facts(value('Username', 'data.username'), link('Sign in at', 'data.loginUrl')),
        paragraph('The link to choose your password works until {{formatDate data.setPasswordExpiresAt}}.', 'data.setPasswordExpiresAt'),
        paragraph('We never send passwords by email. If you did not expect this account, you can ignore this message.'),
      ],
      action: { label: 'Choose your password', url: 'data.setPasswordUrl' },
    },
    sampleData: {
      username: 'dana.whitfield',
      setPasswordUrl: 'https://portal.example.com/account/set-password?token=3f9c1e0b7d',
      setPasswordExpiresAt: '2026-11-25T10:00:00Z',
      loginUrl: 'https://portal.example.com/login',
    },
  },
];
