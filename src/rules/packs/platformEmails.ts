import type { RuleContent } from '../../routing/ruleSpec.ts';
import { brandedEmail, EMAIL_STYLE } from '../../templates/emailLayout.ts';
import type { PackEmailTemplate } from './rulePack.ts';

/**
 * The platform pack's emails, written into Herald's one layout (src/templates/emailLayout.ts):
 * a greeting, the event's intro, its blocks (labelled values, lists, quotes, the order's items)
 * and one button, each written once as HTML and once as plain text. The sources are Handlebars
 * run in Herald's sandbox (src/templates/handlebars.ts): the HTML part is escaped, and every
 * link goes through `safeUrl`, so event data can neither inject markup nor become a
 * `javascript:` link.
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
  /** The button at the end; `url` is the data path of its link (shown only when it is http or https). */
  action?: { label: string; url: string };
};

/** `data.serviceName`, or words that stand for it: at the start of a sentence, and within one. */
export const SERVICE = '{{#if data.serviceName}}{{data.serviceName}}{{else}}Your service{{/if}}';
export const THE_SERVICE = '{{#if data.serviceName}}{{data.serviceName}}{{else}}your service{{/if}}';

/** A piece of an email's body, in both parts. */
export type EmailBlock = { html: string; text: string };

/** A labelled value; `when` is what must be set for its row to show (a path or a subexpression). */
export type Fact = { label: string; when: string; html: string; text: string };

/** HTML shown only when `when` (a path or a subexpression) is set. */
const htmlIf = (when: string, html: string) => `{{#if ${when}}}${html}{{/if}}`;

/**
 * Plain-text lines shown only when `when` is set. Text parts put each line break before its line,
 * never after: Handlebars drops the line break next to a tag that stands alone on its line, and
 * with breaks leading and the empty comment in front, no tag ever does, so the text reads as
 * written whichever parts are left out.
 */
const textIf = (when: string, text: string) => `{{!}}{{#if ${when}}}${text}{{/if}}`;

const LABEL = `${EMAIL_STYLE.cell};${EMAIL_STYLE.muted};white-space:nowrap;vertical-align:top`;
const NUMBER = `${EMAIL_STYLE.cell};text-align:right;white-space:nowrap`;

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
  html: `<code style="${EMAIL_STYLE.code}">{{${path}}}</code>`,
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
  const html = rows.map((r) => htmlIf(r.when, `<tr><td style="${LABEL}">${r.label}</td><td style="${EMAIL_STYLE.cell}">${r.html}</td></tr>`));
  return {
    html: `<table role="presentation" cellpadding="0" cellspacing="0" style="${EMAIL_STYLE.table}">\n${html.join('\n')}\n</table>`,
    text: `\n${rows.map((r) => textIf(r.when, `\n${r.label}: ${r.text}`)).join('')}`,
  };
}

/** A paragraph, shown only when `when` is set (always, without it). */
export function paragraph(source: string, when?: string): EmailBlock {
  const html = `<p style="${EMAIL_STYLE.paragraph}">${source}</p>`;
  const text = `\n\n${source}`;
  return when ? { html: htmlIf(when, html), text: textIf(when, text) } : { html, text };
}

/** Someone's words, set apart: a comment, a resolution. */
export function quote(path: string): EmailBlock {
  return {
    html: htmlIf(path, `<blockquote style="margin:0 0 16px;padding:8px 16px;border-left:4px solid #d0d7de;white-space:pre-line">{{${path}}}</blockquote>`),
    text: textIf(path, `\n\n> {{${path}}}`),
  };
}

/** A titled bullet list of the strings at `path`; left out when there are none. */
export function bullets(title: string, path: string): EmailBlock {
  return {
    html: htmlIf(path, `<h2 style="font-size:16px;margin:24px 0 8px">${title}</h2>\n<ul style="${EMAIL_STYLE.paragraph};padding-left:20px">{{#each ${path}}}<li>{{this}}</li>{{/each}}</ul>`),
    text: textIf(path, `\n\n${title}:{{#each ${path}}}\n- {{this}}{{/each}}`),
  };
}

/** `data.items` (name, quantity, unitPrice) as a table, with `data.total` below; amounts in `data.currency`. */
export function orderItems(): EmailBlock {
  const heading = `${EMAIL_STYLE.cell};${EMAIL_STYLE.muted};font-weight:normal`;
  return {
    html: htmlIf(
      'data.items',
      `<table role="presentation" cellpadding="0" cellspacing="0" style="${EMAIL_STYLE.table}">
<tr><th style="${heading}">Item</th><th style="${heading};text-align:right">Quantity</th><th style="${heading};text-align:right">Unit price</th></tr>
{{#each data.items}}<tr><td style="${EMAIL_STYLE.cell}">{{name}}</td><td style="${NUMBER}">{{quantity}}</td><td style="${NUMBER}">{{unitPrice}} {{../data.currency}}</td></tr>{{/each}}
${htmlIf('data.total', `<tr><td colspan="2" style="${EMAIL_STYLE.cell}"><strong>Total</strong></td><td style="${NUMBER}"><strong>{{data.total}} {{data.currency}}</strong></td></tr>`)}
</table>`,
    ),
    text: textIf('data.items', `\n{{!}}{{#each data.items}}\n- {{quantity}} × {{name}}, {{unitPrice}} {{../data.currency}} each{{/each}}${textIf('data.total', '\nTotal: {{data.total}} {{data.currency}}')}`),
  };
}

const GREETING = '{{#if user.name}}Hello {{user.name}},{{else}}Hello,{{/if}}';

/** The global default email template of one event type, from its copy. */
export function emailTemplate(eventType: string, copy: EmailCopy): PackEmailTemplate {
  const blocks = copy.blocks ?? [];
  const opening = [GREETING, copy.intro];
  return {
    eventType,
    ...brandedEmail({
      subject: copy.subject,
      heading: copy.heading,
      bodyHtml: [...opening.map((line) => `<p style="${EMAIL_STYLE.paragraph}">${line}</p>`), ...blocks.map((block) => block.html)].join('\n'),
      // Ends with a line break, so a blank line stands between the text and the button's link.
      bodyText: `${opening.join('\n\n')}${blocks.map((block) => block.text).join('')}\n`,
      ...(copy.action && { action: copy.action }),
    }),
  };
}
