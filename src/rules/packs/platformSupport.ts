import { facts, paragraph, quote, value, type EmailCopy, type PlatformEvent } from './platformEmails.ts';

const TICKET = value('Ticket', 'data.ticketId');
const SUBJECT = value('Subject', 'data.subject');

/**
 * A support event: its in-app row opens the ticket; its email is subjected `[SUP-3391] …`, so a
 * mail client threads a ticket's emails, and shows the ticket and a link to it unless the copy
 * says otherwise.
 */
function ticketEvent(type: string, inapp: { title: string; body: string }, email: EmailCopy, sampleData: Record<string, unknown> = {}): PlatformEvent {
  return {
    type,
    inapp: { ...inapp, url: '{{data.url}}' },
    email: { blocks: [facts(TICKET, SUBJECT)], action: { label: 'View ticket', url: 'data.url' }, ...email, subject: `[{{data.ticketId}}] ${email.subject}` },
    sampleData: { ticketId: 'SUP-3391', subject: 'Cannot reach my VPS over SSH', url: 'https://portal.example.com/support/tickets/SUP-3391', ...sampleData },
  };
}

/** The customer's side of the support events (SPEC §3.2). */
export const supportEvents: PlatformEvent[] = [
  ticketEvent(
    'support.ticket-created',
    { title: 'Ticket {{data.ticketId}} opened: {{data.subject}}', body: 'We have received your request and will reply soon.' },
    {
      subject: 'We received your request: {{data.subject}}',
      heading: 'We received your request',
      intro: 'Thank you for contacting support. We will reply soon; you can follow your ticket and add details from its page.',
    },
  ),
  ticketEvent(
    'support.comment-added',
    { title: 'New reply on {{data.ticketId}}: {{data.subject}}', body: '{{#if data.author}}{{data.author}}: {{/if}}{{data.comment}}' },
    {
      subject: 'New reply: {{data.subject}}',
      heading: 'New reply on your ticket',
      intro: '{{#if data.author}}{{data.author}}{{else}}Support{{/if}} replied to ticket {{data.ticketId}}, “{{data.subject}}”:',
      blocks: [quote('data.comment')],
      action: { label: 'Reply on the ticket', url: 'data.url' },
    },
    { author: 'Sam Okafor (Support)', comment: 'Could you send us the output of `ssh -v` from your machine? That shows where the connection stops.' },
  ),
  ticketEvent(
    'support.ticket-resolved',
    { title: 'Ticket {{data.ticketId}} resolved: {{data.subject}}', body: '{{data.resolution}}' },
    {
      subject: 'Resolved: {{data.subject}}',
      heading: 'Your ticket is resolved',
      intro: 'We have marked ticket {{data.ticketId}} as resolved.',
      blocks: [facts(TICKET, SUBJECT), quote('data.resolution'), paragraph('If the problem is still there, reopen the ticket from its page.')],
    },
    { resolution: 'A firewall rule was blocking port 22; we removed it and SSH works again.' },
  ),
  ticketEvent(
    'support.ticket-assigned',
    { title: 'Ticket {{data.ticketId}}: {{#if data.assignee}}{{data.assignee}} is on it{{else}}assigned{{/if}}', body: '{{data.subject}}' },
    {
      subject: '{{#if data.assignee}}{{data.assignee}} is handling your request{{else}}Your request is assigned{{/if}}',
      heading: 'Your ticket has been assigned',
      intro: '{{#if data.assignee}}{{data.assignee}} is{{else}}A member of our team is{{/if}} now handling ticket {{data.ticketId}}.',
      blocks: [facts(TICKET, SUBJECT, value('Assigned to', 'data.assignee'))],
    },
    { assignee: 'Sam Okafor' },
  ),
  ticketEvent(
    'support.ticket-closed',
    { title: 'Ticket {{data.ticketId}} closed: {{data.subject}}', body: 'Thank you for contacting us. Open a new ticket whenever you need help.' },
    {
      subject: 'Closed: {{data.subject}}',
      heading: 'Your ticket is closed',
      intro: 'Ticket {{data.ticketId}} is closed. Thank you for contacting us; if you need more help, open a new ticket.',
    },
  ),
];
