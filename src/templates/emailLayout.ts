/**
 * Herald's one email layout, as Handlebars sources: the brand's logo or name, a heading, an
 * optional intro, the message's own part, an optional button, and the brand's footer. The
 * built-in templates and the rule packs' templates are all written into it, so every email a
 * tenant's customers get looks like the same company sent it.
 */
export type EmailParts = {
  subject: string;
  heading: string;
  intro?: string;
  /** The message's own part, HTML (Handlebars; data escaped by `{{ }}`). */
  bodyHtml: string;
  /** The same part as plain text. */
  bodyText: string;
  /** A button to a link: `url` is a Handlebars path (`data.url`), shown only when it is a safe http(s) link. */
  action?: { label: string; url: string };
};

export type EmailSources = { subject: string; html: string; text: string };

const FOOTER = '{{#if brand.footerText}}{{brand.footerText}}{{else}}Sent by {{brand.companyName}}.{{/if}}';

/** Inline styles, since mail clients drop style sheets. */
export const EMAIL_STYLE = {
  paragraph: 'margin:0 0 16px',
  muted: 'color:{{brand.secondaryColor}}',
  table: 'border-collapse:collapse;width:100%;margin:0 0 16px',
  cell: 'padding:6px 8px;border-bottom:1px solid #d0d7de;text-align:left',
  code: 'font-family:SFMono-Regular,Consolas,monospace;background:#f6f8fa;padding:2px 4px;border-radius:4px',
} as const;

export function brandedEmail(parts: EmailParts): EmailSources {
  const button = parts.action
    ? `{{#if (safeUrl ${parts.action.url})}}<p style="margin:24px 0"><a href="{{safeUrl ${parts.action.url}}}" style="background:{{brand.primaryColor}};color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none">${parts.action.label}</a></p>{{/if}}`
    : '';
  const html = `<!doctype html>
<html><body style="margin:0;padding:0;background:#f6f8fa;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1f2328">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:24px">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff;border-radius:6px;border-top:4px solid {{brand.primaryColor}}">
<tr><td style="padding:24px 32px 0">{{#if brand.logoUrl}}<img src="{{brand.logoUrl}}" alt="{{brand.companyName}}" height="32" style="height:32px">{{else}}<strong style="font-size:18px;color:{{brand.primaryColor}}">{{brand.companyName}}</strong>{{/if}}</td></tr>
<tr><td style="padding:16px 32px">
<h1 style="font-size:20px;margin:0 0 8px">${parts.heading}</h1>
${parts.intro ? `<p style="${EMAIL_STYLE.paragraph};${EMAIL_STYLE.muted}">${parts.intro}</p>` : ''}
${parts.bodyHtml}
${button}
</td></tr>
<tr><td style="padding:16px 32px 24px;font-size:12px;color:{{brand.secondaryColor}};border-top:1px solid #d0d7de">${FOOTER}</td></tr>
</table></td></tr></table>
</body></html>`;
  const textButton = parts.action ? `{{#if (safeUrl ${parts.action.url})}}\n\n${parts.action.label}: {{safeUrl ${parts.action.url}}}{{/if}}` : '';
  const text = `${parts.heading}

${parts.intro ? `${parts.intro}\n\n` : ''}${parts.bodyText}${textButton}

--
${FOOTER}`;
  return { subject: parts.subject, html, text };
}
