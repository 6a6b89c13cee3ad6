import type { RecipientSpec } from '../../routing/ruleSpec.ts';
import { PROGRESS } from './platformProvisioning.ts';
import type { PackRule } from './rulePack.ts';

const ADMINS: RecipientSpec = { kind: 'role', role: 'admin' };

/** What went wrong, where, and what it touched: the body of every failure and rollback alert. */
const FAILURE_BODY =
  '{{#if data.error}}Error: {{data.error}}\n{{/if}}' +
  '{{#if data.orderId}}Order: {{data.orderId}}\n{{/if}}' +
  '{{#if data.stepName}}At step {{data.step}}/{{data.totalSteps}}: {{data.stepName}}\n{{/if}}' +
  '{{#if data.affectedResources}}Affected resources: {{#each data.affectedResources}}{{this}}{{#unless @last}}, {{/unless}}{{/each}}{{/if}}';

const adminAlert = (eventType: string, title: string, body: string, priority?: 'high'): PackRule => ({
  eventType,
  channels: ['inapp'],
  recipients: ADMINS,
  ...(priority && { priority }),
  content: { title, body, url: '{{data.url}}' },
});

/**
 * Operational alerts for the tenant's admins, in-app only (SPEC §3.2): every new order with its
 * items, provisioning progress, and every failure and rollback at priority high. `*.failed`
 * is a pattern on purpose: a failure the pack does not know of yet reaches admins too.
 */
export const platformAlerts: PackRule[] = [
  adminAlert(
    'order.created',
    'New order {{data.orderId}}{{#if data.customerName}} from {{data.customerName}}{{/if}}',
    '{{#each data.items}}{{quantity}} × {{name}} at {{unitPrice}} {{../data.currency}}\n{{/each}}{{#if data.total}}Total: {{data.total}} {{data.currency}}{{/if}}',
  ),
  adminAlert(
    'provisioning.started',
    'Provisioning started{{#if data.serviceName}}: {{data.serviceName}}{{/if}}',
    'Order {{data.orderId}}{{#if data.totalSteps}}, {{data.totalSteps}} steps{{/if}}.',
  ),
  adminAlert('provisioning.step-completed', PROGRESS, 'Provisioning {{data.serviceName}} for order {{data.orderId}}.'),
  adminAlert(
    'provisioning.completed',
    'Provisioning completed{{#if data.serviceName}}: {{data.serviceName}}{{/if}}',
    'Order {{data.orderId}}{{#if data.hostname}}, on {{data.hostname}}{{/if}}.',
  ),
  adminAlert('*.failed', '{{humanize event.type}}{{#if data.serviceName}}: {{data.serviceName}}{{else if data.orderId}}: {{data.orderId}}{{/if}}', FAILURE_BODY, 'high'),
  adminAlert('provisioning.rolled-back', 'Provisioning rolled back{{#if data.serviceName}}: {{data.serviceName}}{{/if}}', FAILURE_BODY, 'high'),
];
