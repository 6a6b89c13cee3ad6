import { brandedEmail, EMAIL_STYLE } from '../../templates/emailLayout.ts';
import type { RulePack } from './rulePack.ts';

/**
 * SPEC §3.2 `conversations`: chat messages and background tasks. The sender of a message is the
 * event's `actorId`, so "every participant but the sender" is the `participantIds` resolver
 * with the actor left out, as for every rule.
 */
export const conversationsPack: RulePack = {
  id: 'conversations',
  name: 'Conversations and tasks',
  description:
    'Messages reach every participant but the sender in-app and by push, with an email when not seen within 5 minutes; new conversations reach their participants; task outcomes reach the task owner.',
  rules: [
    {
      eventType: 'conversation.message_posted',
      channels: ['inapp', 'push'],
      recipients: { kind: 'data', path: 'participantIds' },
      content: {
        title: '{{#if data.senderName}}{{data.senderName}}{{else}}New message{{/if}}{{#if data.conversationTitle}} in {{data.conversationTitle}}{{/if}}',
        body: '{{data.message}}',
        url: '{{data.url}}',
      },
      delivery: { fallback: { channel: 'email', afterSeconds: 300, unless: 'seen' } },
    },
    {
      eventType: 'conversation.created',
      channels: ['inapp'],
      recipients: { kind: 'data', path: 'participantIds' },
      content: {
        title: '{{#if data.creatorName}}{{data.creatorName}} added you to {{else}}You were added to {{/if}}{{#if data.conversationTitle}}{{data.conversationTitle}}{{else}}a conversation{{/if}}',
        url: '{{data.url}}',
      },
    },
    {
      eventType: 'task.completed',
      channels: ['inapp', 'push'],
      recipients: { kind: 'data', path: 'ownerId' },
      content: { title: 'Done: {{data.taskName}}', body: '{{data.result}}', url: '{{data.url}}' },
    },
    {
      eventType: 'task.failed',
      channels: ['email', 'inapp', 'push'],
      recipients: { kind: 'data', path: 'ownerId' },
      priority: 'high',
      content: { title: 'Failed: {{data.taskName}}', body: '{{data.error}}', url: '{{data.url}}' },
    },
  ],
  emailTemplates: [
    {
      eventType: 'conversation.message_posted',
      ...brandedEmail({
        subject: '{{#if data.senderName}}{{data.senderName}}{{else}}Someone{{/if}} wrote{{#if data.conversationTitle}} in {{data.conversationTitle}}{{/if}}',
        heading: 'You have an unread message',
        intro: 'This message has waited five minutes for you.',
        bodyHtml: `<p style="${EMAIL_STYLE.paragraph}"><strong>{{data.senderName}}</strong>{{#if data.conversationTitle}} in <strong>{{data.conversationTitle}}</strong>{{/if}}:</p>
<blockquote style="margin:0 0 16px;padding:8px 16px;border-left:4px solid #d0d7de">{{data.message}}</blockquote>`,
        bodyText: '{{data.senderName}}{{#if data.conversationTitle}} in {{data.conversationTitle}}{{/if}}:\n> {{data.message}}',
        action: { label: 'Reply', url: 'data.url' },
      }),
    },
    {
      eventType: 'task.failed',
      ...brandedEmail({
        subject: 'Task failed: {{data.taskName}}',
        heading: 'A task of yours failed',
        bodyHtml: `<p style="${EMAIL_STYLE.paragraph}"><strong>{{data.taskName}}</strong> did not finish.</p>
{{#if data.error}}<p style="${EMAIL_STYLE.paragraph}">Error: <code style="${EMAIL_STYLE.code}">{{data.error}}</code></p>{{/if}}`,
        bodyText: '{{data.taskName}} did not finish.\n{{#if data.error}}Error: {{data.error}}{{/if}}',
        action: { label: 'Open the task', url: 'data.url' },
      }),
    },
  ],
  sampleData: {
    'conversation.message_posted': {
      conversationId: 'conv_81',
      conversationTitle: 'Migration plan',
      senderName: 'Sam Rivera',
      message: 'Can you review the cut-over steps before Friday?',
      participantIds: ['ann', 'bob', 'sam'],
      url: 'https://app.example.com/conversations/conv_81',
    },
    'conversation.created': {
      conversationId: 'conv_81',
      conversationTitle: 'Migration plan',
      creatorName: 'Sam Rivera',
      participantIds: ['ann', 'bob', 'sam'],
      url: 'https://app.example.com/conversations/conv_81',
    },
    'task.completed': { taskId: 'task_7', taskName: 'Nightly export', ownerId: 'ann', result: '1,204 rows exported.', url: 'https://app.example.com/tasks/task_7' },
    'task.failed': { taskId: 'task_8', taskName: 'Nightly export', ownerId: 'ann', error: 'connection reset by peer', url: 'https://app.example.com/tasks/task_8' },
  },
};
