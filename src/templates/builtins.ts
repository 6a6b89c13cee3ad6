import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { compileTemplate, type CompiledTemplate, type TemplateFields } from './content.ts';
import { packSampleData } from '../rules/packs/catalog.ts';
import { brandedEmail, EMAIL_STYLE } from './emailLayout.ts';

/**
 * Herald's own email templates, used when neither the tenant nor the global default has one
 * for an event type: one per seed event type, and a generic one for everything else. They are
 * written with the same Handlebars and context as stored templates, so an admin can copy one
 * from a preview and start from it.
 */
type EmailCopy = { subject: string; heading: string; intro: string; action: string };

const TITLE = '{{#if data.title}}{{data.title}}{{else}}{{humanize event.type}}{{/if}}';

const SEED_COPY: Record<string, EmailCopy> = {
  finding_created: { subject: `New {{#if event.severity}}{{event.severity}} {{/if}}finding: ${TITLE}`, heading: 'New finding', intro: 'A new finding was reported.', action: 'View finding' },
  finding_assigned: { subject: `Finding assigned to you: ${TITLE}`, heading: 'Finding assigned to you', intro: 'A finding was assigned to you.', action: 'View finding' },
  finding_reopened: { subject: `Finding reopened: ${TITLE}`, heading: 'Finding reopened', intro: 'A finding you follow was reopened.', action: 'View finding' },
  sla_breached: { subject: `SLA breached: ${TITLE}`, heading: 'SLA breached', intro: 'A finding is past its remediation deadline.', action: 'View finding' },
  scan_completed: { subject: `Scan completed: ${TITLE}`, heading: 'Scan completed', intro: 'A scan has finished.', action: 'View results' },
  report_ready: { subject: `Report ready: ${TITLE}`, heading: 'Your report is ready', intro: 'A report you asked for is ready to download.', action: 'Open report' },
  approval_requested: { subject: `Approval requested: ${TITLE}`, heading: 'Approval requested', intro: 'Your approval is requested.', action: 'Review request' },
  approval_approved: { subject: `Approved: ${TITLE}`, heading: 'Request approved', intro: 'Your request was approved.', action: 'View request' },
  approval_rejected: { subject: `Rejected: ${TITLE}`, heading: 'Request rejected', intro: 'Your request was rejected.', action: 'View request' },
  approval_cancelled: { subject: `Cancelled: ${TITLE}`, heading: 'Request cancelled', intro: 'An approval request was cancelled.', action: 'View request' },
  approval_expired: { subject: `Expired: ${TITLE}`, heading: 'Request expired', intro: 'An approval request expired before anyone answered it.', action: 'View request' },
};

const GENERIC_COPY: EmailCopy = { subject: TITLE, heading: '{{humanize event.type}}', intro: '', action: 'Open in {{brand.companyName}}' };

const DETAILS = '{{#if data.body}}{{data.body}}{{else if data.description}}{{data.description}}{{else}}{{data.message}}{{/if}}';

function emailFields(copy: EmailCopy): TemplateFields {
  return brandedEmail({
    subject: copy.subject,
    heading: copy.heading,
    intro: copy.intro,
    bodyHtml: `<p style="margin:0 0 8px;font-size:16px"><strong>${TITLE}</strong>{{#if event.severity}} <span style="${EMAIL_STYLE.muted}">({{event.severity}})</span>{{/if}}</p>
<p style="${EMAIL_STYLE.paragraph}">${DETAILS}</p>`,
    bodyText: `${TITLE}{{#if event.severity}} ({{event.severity}}){{/if}}
${DETAILS}`,
    action: { label: copy.action, url: 'data.url' },
  });
}

/** The source of the built-in email template for an event type (the generic one for types Herald does not know). */
export function builtinEmailFields(eventType: string): TemplateFields {
  return emailFields(Object.hasOwn(SEED_COPY, eventType) ? SEED_COPY[eventType]! : GENERIC_COPY);
}

// Compiled once per process: the sources never change while it runs.
const compiledBuiltins = new Map<string, CompiledTemplate>();

export function builtinEmailTemplate(eventType: string): CompiledTemplate {
  const key = Object.hasOwn(SEED_COPY, eventType) ? eventType : '';
  let compiled = compiledBuiltins.get(key);
  if (!compiled) {
    compiled = compileTemplate('email', builtinEmailFields(eventType));
    compiledBuiltins.set(key, compiled);
  }
  return compiled;
}

/** Whether a compiled template is one of Herald's built-in email templates (no tenant or global one was stored). */
export function isBuiltinEmailTemplate(template: CompiledTemplate): boolean {
  return [...compiledBuiltins.values()].includes(template);
}

const DIGEST_ITEM = `{{#if data.title}}{{data.title}}{{else}}{{humanize event.type}}{{/if}}`;

/**
 * A digest's email when no template was stored for its event type (SPEC §4.1): every event the
 * window gathered, oldest first, with its severity and a link when it has a safe one.
 */
const builtinDigestEmail = compileTemplate(
  'email',
  brandedEmail({
    subject: '{{digest.count}} new notifications',
    heading: '{{digest.count}} new notifications',
    intro: 'Here is what happened, oldest first.',
    bodyHtml: `<table role="presentation" style="${EMAIL_STYLE.table}">{{#each digest.events}}
<tr><td style="${EMAIL_STYLE.cell}"><strong>${DIGEST_ITEM}</strong>{{#if event.severity}} <span style="${EMAIL_STYLE.muted}">({{event.severity}})</span>{{/if}}{{#if data.body}}<br>{{data.body}}{{/if}}{{#if (safeUrl data.url)}}<br><a href="{{safeUrl data.url}}">Open</a>{{/if}}</td></tr>{{/each}}
</table>`,
    bodyText: `{{#each digest.events}}- ${DIGEST_ITEM}{{#if event.severity}} ({{event.severity}}){{/if}}{{#if (safeUrl data.url)}}: {{safeUrl data.url}}{{/if}}
{{/each}}`,
  }),
);

export function builtinDigestEmailTemplate(): CompiledTemplate {
  return builtinDigestEmail;
}

const SAMPLE_DATA: Record<string, Record<string, unknown>> = {
  finding_created: { title: 'SQL injection in /login', body: 'The id parameter is passed to a query unescaped.', url: 'https://app.example.com/findings/42' },
  finding_assigned: { title: 'SQL injection in /login', body: 'Assigned to you by Sam.', url: 'https://app.example.com/findings/42' },
  finding_reopened: { title: 'SQL injection in /login', body: 'The retest still reproduces it.', url: 'https://app.example.com/findings/42' },
  sla_breached: { title: 'SQL injection in /login', body: 'The 7-day deadline passed yesterday.', url: 'https://app.example.com/findings/42' },
  scan_completed: { title: 'Weekly scan of app.example.com', body: '3 new findings, 12 resolved.', url: 'https://app.example.com/scans/7' },
  report_ready: { title: 'Quarterly risk report', body: 'PDF, 24 pages.', url: 'https://app.example.com/reports/q3' },
  approval_requested: { title: 'Accept risk for finding #42', body: 'Requested by Sam until 31 Dec.', url: 'https://app.example.com/approvals/9' },
};

/**
 * The event a preview, a test-send and the trial render of rule content at save render with:
 * the type given (a pattern's `*` read as `example`), high severity, and the caller's data or
 * the type's sample data.
 */
export function sampleEvent(eventType: string, options: { id?: string; tenantId?: string | null; data?: Record<string, unknown> | null } = {}): EventEnvelope {
  const type = eventType.replaceAll('*', 'example');
  return {
    id: options.id ?? 'preview',
    type,
    tenantId: options.tenantId ?? 'preview',
    severity: 'high',
    actorId: null,
    occurredAt: new Date().toISOString(),
    assigneeUserIds: [],
    assigneeTeamIds: [],
    recipientUserIds: [],
    approval: null,
    data: options.data ?? sampleData(type),
  };
}

/** Data a preview and the trial render at save use when the caller gives none: a rule pack's example for its events. */
export function sampleData(eventType: string): Record<string, unknown> {
  if (Object.hasOwn(SAMPLE_DATA, eventType)) return SAMPLE_DATA[eventType]!;
  const fromPack = packSampleData(eventType);
  if (fromPack) return fromPack;
  if (eventType.startsWith('approval_')) return SAMPLE_DATA.approval_requested!;
  return { title: 'Something happened', body: 'Details of the event.', url: 'https://app.example.com/' };
}
