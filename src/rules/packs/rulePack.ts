import type { Channel } from '../../routing/channels.ts';
import type { Priority } from '../../routing/priority.ts';
import type { RecipientSpec, RuleContent, RuleDelivery } from '../../routing/ruleSpec.ts';

/**
 * One rule a pack installs (SPEC §3.1 fields). Left out: the API's defaults — no severity
 * filter, the event's own recipients, no priority, no content, no timed delivery. Pack rules
 * never post webhooks: a webhook needs the tenant's own URL.
 */
export type PackRule = {
  eventType: string;
  channels: Exclude<Channel, 'webhook'>[];
  severityFilter?: string;
  recipients?: RecipientSpec;
  priority?: Priority;
  content?: RuleContent;
  delivery?: RuleDelivery;
};

/** An email template a pack ships as the global default for its event type (SPEC §3.2). */
export type PackEmailTemplate = { eventType: string; subject: string; html: string; text: string };

/** A named set of rules and email templates a tenant installs in one call (SPEC §3.2). */
export type RulePack = {
  id: string;
  name: string;
  description: string;
  rules: PackRule[];
  emailTemplates: PackEmailTemplate[];
  /**
   * Example `data` per event type, documenting what the pack's content reads: the trial render
   * at install time and the template previews use it, and so does the pack's end-to-end test.
   */
  sampleData: Record<string, Record<string, unknown>>;
};
