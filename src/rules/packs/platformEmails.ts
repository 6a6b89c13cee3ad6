import type { RuleContent } from '../../routing/ruleSpec.ts';
import type { PackEmailTemplate } from './rulePack.ts';

/**
 * The platform pack's emails: one layout (brand bar, greeting, the event's blocks, one action,
 * footer) that every event's copy fills in, written once as HTML and once as plain text. The
 * sources are Handlebars run in Herald's sandbox (src/templates/handlebars.ts): the HTML part is
 * escaped, and every link goes through `safeUrl`, so event data can neither inject markup nor
 * become a `javascript:` link.
 */

/** What the pack says about one event: its customer's in-app text, its email, and example data. */
export type PlatformEvent = {
  type: string;
  /** The in-app row of the event's own recipients (the customer). */
  inapp: RuleContent;
  email: EmailCopy;
  /** What a publisher sends as `data`: every field the in-app text and the email read. */
  sampleData: Record<string, unknown>;
};

export type EmailCopy = {
  subject: string;
  heading: string;
  /** The first paragraph, after the greeting. */
  intro: string;
  blocks?: EmailBlock[];
  /** The button at the end; `path` is the data path of its link (shown only when it is http or https). */
  action?: { label: string; path: string };
};

/** `data.serviceName`, or words that stand for it: at the start of a sentence, and within one. */
export const SERVICE = '{{#if data.serviceName}}{{data.serviceName}}{{else}}Your service{{/if}}';
export const THE_SERVICE = '{{#if data.serviceName}}{{data.serviceName}}{{else}}your service{{/if}}';

/** A piece of an email's body, in both parts. */
export type EmailBlock = { html: string; text: string };

/** A labelled value; `when` is what must be set for its row to show (a path or a subexpression). */
export type Fact = { label: string; when: string; html: string; text: string };

/**
 * Ends a plain-text block with its blank line. Handlebars drops the line break after a closing
 * tag that stands alone on its line; an empty comment right after the tag keeps it.
 */
const END_OF_BLOCK = '{{!}}\n';

const COLORS = { text: '#1f2328', muted: '{{brand.secondaryColor}}', rule: '#d0d7de', panel: '#f6f8fa' };
const CELL = `padding:6px 12px 6px 0;vertical-align:top;border-bottom:1px solid ${COLORS.rule}`;
const SUBHEADING = 'font-size:16px;margin:24px 0 8px';
const PARAGRAPH = 'margin:0 0 16px;line-height:1.5';

/** A value as it is. */
export const value = (label: string, path: string): Fact => ({ label, when: path, html: `{{${path}}}`, text: `{{${path}}}` });

/** An amount in the event's `data.currency`. */
export const amount = (label: string, path: string): Fact => ({ label, when: path, html: `{{${path}}} {{data.currency}}`, text: `{{${path}}} {{data.currency}}` });

/** An ISO timestamp as `7 Dec 2026, 23:59 UTC` (other text unchanged). */
export const date = (label: string, path: string): Fact => ({ label, when: path, html: `{{formatDate ${path}}}`, text: `{{formatDate ${path}}}` });

/** Something to type or paste, such as a command. */
export const code = (label: string, path: string): Fact => ({
  label,
  when: path,
  html: `<code style="font-family:SFMono-Regular,Consolas,monospace;background:${COLORS.panel};padding:2px 6px;border-radius:4px">{{${path}}}</code>`,
  text: `{{${path}}}`,
});

/** A link shown as its address; left out unless it is http or https. */
export const link = (label: string, path: string): Fact => ({
  label,
  when: `(safeUrl ${path})`,
  html: `<a href="{{safeUrl ${path}}}" style="color:{{brand.primaryColor}}">{{safeUrl ${path}}}</a>`,
  text: `{{safeUrl ${path}}}`,
});

/** A table of labelled values; a row whose value is not set is left out. */
export function facts(...rows: Fact[]): EmailBlock {
  const html = rows.map((r) => `{{#if ${r.when}}}<tr><td style="${CELL};color:${COLORS.muted};white-space:nowrap">${r.label}</td><td style="${CELL}">${r.html}</td></tr>{{/if}}`);
  return {
    html: `<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;margin:0 0 16px">\n${html.join('\n')}\n</table>`,
    text: `${rows.map((r) => `{{#if ${r.when}}}${r.label}: ${r.text}\n{{/if}}`).join('')}${END_OF_BLOCK}`,
  };
}

/** A paragraph, shown only when `when` is set (always, without it). */
export function paragraph(source: string, when?: string): EmailBlock {
  const shown = (part: string) => (when ? `{{#if ${when}}}${part}{{/if}}` : part);
  return { html: shown(`<p style="${PARAGRAPH}">${source}</p>`), text: shown(`${source}\n\n`) };
}

/** Someone's words, set apart: a comment, a resolution. */
export function quote(path: string): EmailBlock {
  return {
    html: `{{#if ${path}}}<blockquote style="margin:0 0 16px;padding:8px 16px;border-left:4px solid ${COLORS.rule};white-space:pre-line">{{${path}}}</blockquote>{{/if}}`,
    text: `{{#if ${path}}}> {{${path}}}\n\n{{/if}}`,
  };
}

/** A titled bullet list of the strings at `path`; left out when there are none. */
export function bullets(title: string, path: string): EmailBlock {
  return {
    html: `{{#if ${path}}}<h2 style="${SUBHEADING}">${title}</h2>\n<ul style="margin:0 0 16px;padding-left:20px;line-height:1.5">{{#each ${path}}}<li>{{this}}</li>{{/each}}</ul>{{/if}}`,
    text: `{{#if ${path}}}${title}:\n{{#each ${path}}}- {{this}}\n{{/each}}${END_OF_BLOCK}{{/if}}`,
  };
}

/** `data.items` (name, quantity, unitPrice) as a table, with `data.total` below; amounts in `data.currency`. */
export function orderItems(): EmailBlock {
  const th = `text-align:left;${CELL};color:${COLORS.muted};font-weight:normal`;
  const num = `${CELL};text-align:right`;
  return {
    html: `{{#if data.items}}<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="border-collapse:collapse;margin:0 0 16px">
<tr><th style="${th}">Item</th><th style="${th};text-align:right">Quantity</th><th style="${th};text-align:right">Unit price</th></tr>
{{#each data.items}}<tr><td style="${CELL}">{{name}}</td><td style="${num}">{{quantity}}</td><td style="${num};white-space:nowrap">{{unitPrice}} {{../data.currency}}</td></tr>{{/each}}
{{#if data.total}}<tr><td colspan="2" style="padding:8px 12px 0 0"><strong>Total</strong></td><td style="padding:8px 0 0;text-align:right;white-space:nowrap"><strong>{{data.total}} {{data.currency}}</strong></td></tr>{{/if}}
</table>{{/if}}`,
    text: `{{#if data.items}}{{#each data.items}}- {{quantity}} × {{name}}, {{unitPrice}} {{../data.currency}} each\n{{/each}}{{#if data.total}}Total: {{data.total}} {{data.currency}}\n{{/if}}${END_OF_BLOCK}{{/if}}`,
  };
}

const GREETING = '{{#if user.name}}Hello {{user.name}},{{else}}Hello,{{/if}}';
const FOOTER = '{{#if brand.footerText}}{{brand.footerText}}{{else}}Sent by {{brand.companyName}}.{{/if}}';
const BRAND_BAR =
  '{{#if brand.logoUrl}}<img src="{{brand.logoUrl}}" alt="{{brand.companyName}}" height="32" style="display:block;height:32px">' +
  '{{else}}<span style="font-size:18px;font-weight:600;color:{{brand.primaryColor}}">{{brand.companyName}}</span>{{/if}}';

function actionBlock(action: EmailCopy['action']): EmailBlock {
  if (!action) return { html: '', text: '' };
  const href = `{{safeUrl ${action.path}}}`;
  return {
    html: `{{#if (safeUrl ${action.path})}}<p style="margin:24px 0"><a href="${href}" style="display:inline-block;background:{{brand.primaryColor}};color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;font-weight:600">${action.label}</a></p>{{/if}}`,
    text: `{{#if (safeUrl ${action.path})}}${action.label}: ${href}\n{{/if}}`,
  };
}

/** The global default email template of one event type, from its copy. */
export function emailTemplate(eventType: string, copy: EmailCopy): PackEmailTemplate {
  const blocks = [...(copy.blocks ?? []), actionBlock(copy.action)];
  const html = `<!doctype html>
<html><body style="margin:0;padding:24px 0;background:${COLORS.panel};font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:${COLORS.text}">
<div style="max-width:600px;margin:0 auto;background:#ffffff;border-radius:6px;border-top:4px solid {{brand.primaryColor}}">
<div style="padding:24px 32px 0">${BRAND_BAR}</div>
<div style="padding:16px 32px 8px">
<h1 style="font-size:20px;margin:0 0 16px">${copy.heading}</h1>
<p style="${PARAGRAPH}">${GREETING}</p>
<p style="${PARAGRAPH}">${copy.intro}</p>
${blocks.map((b) => b.html).join('\n')}
</div>
<div style="padding:16px 32px 24px;font-size:12px;color:${COLORS.muted};border-top:1px solid ${COLORS.rule}">${FOOTER}</div>
</div>
</body></html>`;
  const text = `${copy.heading}

${GREETING}

${copy.intro}

${blocks.map((b) => b.text).join('')}--
${FOOTER}`;
  return { eventType, subject: copy.subject, html, text };
}
