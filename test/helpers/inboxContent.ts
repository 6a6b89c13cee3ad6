import { contentKey, type InboxContent } from '../../src/inbox/inboxContent.ts';

/** The default content of an event of acme with a plain title, for tests that write inbox rows themselves. */
export const acmeContent = (eventId: string): InboxContent => ({
  key: contentKey({ tenantId: 'acme', id: eventId }, null),
  event_id: eventId,
  tenant_id: 'acme',
  type: 'finding_created',
  severity: null,
  title: eventId,
  body: '',
  url: null,
  data: {},
  actor: null,
});
