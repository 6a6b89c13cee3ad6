import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { BrandContext } from './branding.ts';
import { defaultMessageText, INBOX_BODY_MAX, INBOX_TITLE_MAX } from './defaultContent.ts';
import { compileField, type RenderFn } from './handlebars.ts';
import { withRenderBudget } from './renderBudget.ts';

/** Email uses subject/html/text; every short-message channel (in-app, push, chat) uses title/body. */
export type ContentKind = 'email' | 'message';

export const FIELDS_OF: Record<ContentKind, readonly TemplateField[]> = {
  email: ['subject', 'html', 'text'],
  message: ['title', 'body'],
};

export type TemplateField = 'subject' | 'html' | 'text' | 'title' | 'body';
export type TemplateFields = Partial<Record<TemplateField, string | null>>;

export type EmailContent = { subject: string; html: string; text: string };
export type MessageContent = { title: string; body: string };
export type RenderedContent = EmailContent | MessageContent;

/** Webhook payloads are fixed by SPEC §7 and are not templated: null. */
export function contentKindOf(channel: string): ContentKind | null {
  if (channel === 'email') return 'email';
  if (channel === 'inapp' || channel === 'push' || channel === 'slack' || channel === 'teams') return 'message';
  return null;
}

/** A template ready to render: one function per field of its kind (email `text` is null when it comes from the HTML). */
export type CompiledTemplate =
  | { kind: 'email'; subject: RenderFn; html: RenderFn; text: RenderFn | null }
  | { kind: 'message'; title: RenderFn; body: RenderFn };

/** The person a message is for, as templates see `user.*`; absent for static rule recipients and in-app batches. */
export type TemplateUser = { id: string | null; name: string | null; email: string | null };

/** An event as templates see `event.*`. */
export type EventTemplateView = { id: string; type: string; tenantId: string; severity: string | null; actorId: string | null; occurredAt: string };

/** A digest's message (SPEC §4.1): how many events its window gathered, and each with its data, oldest first. */
export type DigestContext = { count: number; events: { event: EventTemplateView; data: Record<string, unknown> }[] };

export type TemplateContext = {
  event: EventTemplateView;
  data: Record<string, unknown>;
  user: TemplateUser;
  brand: BrandContext;
  /** Only in a digest's message. */
  digest?: DigestContext;
};

export function eventTemplateView(event: EventEnvelope): EventTemplateView {
  return { id: event.id, type: event.type, tenantId: event.tenantId, severity: event.severity, actorId: event.actorId, occurredAt: event.occurredAt };
}

export function templateContext(event: EventEnvelope, user: TemplateUser | null, brand: BrandContext, digest?: DigestContext | null): TemplateContext {
  return {
    event: eventTemplateView(event),
    data: event.data,
    user: user ?? { id: null, name: null, email: null },
    brand,
    ...(digest && { digest }),
  };
}

/**
 * Compiles stored template fields (every syntax error names its field and line). An email
 * template without a `text` field gets its plain-text part from the rendered HTML, so every
 * email still has both parts.
 */
export function compileTemplate(kind: ContentKind, fields: TemplateFields): CompiledTemplate {
  const compile = (field: TemplateField, escape = false) => compileField(field, fields[field] ?? '', escape);
  if (kind === 'message') return { kind, title: compile('title'), body: compile('body') };
  return { kind, subject: compile('subject'), html: compile('html', true), text: fields.text ? compile('text') : null };
}

/** The built-in short message: the event's own title and body (see defaultMessageText). */
export const builtinMessageTemplate: CompiledTemplate = {
  kind: 'message',
  title: (context) => defaultMessageText((context as TemplateContext).event.type, (context as TemplateContext).data).title,
  body: (context) => defaultMessageText((context as TemplateContext).event.type, (context as TemplateContext).data).body,
};

/** Renders every field of a template within one render budget (SPEC §7.1); past it, a TemplateTooExpensiveError. */
export function renderTemplate(template: CompiledTemplate, context: TemplateContext): RenderedContent {
  return withRenderBudget(() => {
    if (template.kind === 'message') {
      return { title: oneLine(template.title(context)).slice(0, INBOX_TITLE_MAX), body: template.body(context).trim().slice(0, INBOX_BODY_MAX) };
    }
    const html = template.html(context);
    return { subject: oneLine(template.subject(context)).slice(0, 500), html, text: (template.text ? template.text(context) : htmlToText(html)).trim() };
  });
}

/**
 * Collapses a value to one line: line breaks and other control characters become spaces. A
 * subject is a header, and a CR/LF in one is how header injection starts.
 */
export function oneLine(value: string): string {
  return value.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').replace(/\s{2,}/g, ' ').trim();
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#x27': "'", '#39': "'", '#x3D': '=', '#x60': '`', nbsp: ' ' };

/** Elements whose content is no text for a reader. */
const HIDDEN = new Set(['style', 'script', 'head']);
/** Elements whose end is a line break in the text part. */
const BLOCKS = new Set(['p', 'div', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'li', 'tr', 'table']);
/**
 * A tag: `<`, an optional `/`, a name, and anything up to `>` but another `<`. A `<` that never
 * closes is plain text, and because no match can cross a `<`, every character is looked at a
 * bounded number of times: the scan stays linear however many unclosed tags the HTML holds.
 */
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9]*)(?![A-Za-z0-9])([^<>]*)>/g;

/**
 * A readable plain-text part from rendered HTML: block ends become line breaks, links keep their
 * target, style and script content is dropped. One pass over the tags (see TAG), since the HTML
 * is a template's output and may be hostile.
 */
export function htmlToText(html: string): string {
  const pieces: string[] = [];
  let hiddenUntil: string | null = null;
  let link: string | null = null;
  let last = 0;
  for (const match of html.matchAll(TAG)) {
    if (hiddenUntil === null) pieces.push(html.slice(last, match.index));
    last = match.index + match[0].length;
    const closing = match[1] === '/';
    const name = match[2]!.toLowerCase();
    if (hiddenUntil !== null) {
      if (closing && name === hiddenUntil) hiddenUntil = null;
    } else if (!closing && HIDDEN.has(name)) {
      hiddenUntil = name;
    } else if (name === 'br' || (closing && BLOCKS.has(name))) {
      pieces.push('\n');
    } else if (name === 'a' && !closing) {
      link = /\bhref="([^"]*)"/i.exec(match[3]!)?.[1] ?? null;
    } else if (name === 'a' && link !== null) {
      pieces.push(` (${link})`);
      link = null;
    }
  }
  if (hiddenUntil === null) pieces.push(html.slice(last));
  return pieces
    .join('')
    .replace(/&(amp|lt|gt|quot|#x27|#39|#x3D|#x60|nbsp);/g, (_m, name: string) => ENTITIES[name] ?? '')
    .replace(/[ \t]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
