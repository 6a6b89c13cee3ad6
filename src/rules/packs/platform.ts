import { platformAlerts } from './platformAlerts.ts';
import { billingEvents } from './platformBilling.ts';
import { emailTemplate, type PlatformEvent } from './platformEmails.ts';
import { identityEvents } from './platformIdentity.ts';
import { orderEvents } from './platformOrders.ts';
import { provisioningEvents } from './platformProvisioning.ts';
import { supportEvents } from './platformSupport.ts';
import type { RulePack } from './rulePack.ts';

/** Every event of the platform module, by domain. */
export const platformEvents: PlatformEvent[] = [...orderEvents, ...provisioningEvents, ...billingEvents, ...supportEvents, ...identityEvents];

/**
 * The `platform` pack (SPEC §3.2): each event's own recipients — the customer — get a
 * confirmation in-app and by email (one rule per event type, with its in-app text; the email is
 * the pack's global default template for the type), and the tenant's admins get operational
 * alerts in-app (platformAlerts.ts). `sampleData` is the data contract: the fields each event's
 * texts read.
 */
export const platformPack: RulePack = {
  id: 'platform',
  name: 'Platform',
  description:
    'Orders, provisioning, billing, support and identity events: customers get confirmations in-app and by email; admins get new orders, provisioning progress and every failure or rollback in-app.',
  rules: [...platformEvents.map((event) => ({ eventType: event.type, channels: ['inapp' as const, 'email' as const], content: event.inapp })), ...platformAlerts],
  emailTemplates: platformEvents.map((event) => emailTemplate(event.type, event.email)),
  sampleData: Object.fromEntries(platformEvents.map((event) => [event.type, event.sampleData])),
};
