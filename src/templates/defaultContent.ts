import type { EventEnvelope } from '../intake/eventEnvelope.ts';

export type InboxContent = { title: string; body: string; url: string | null };

/** The limits of an inbox row's text, whichever template produced it. */
export const INBOX_TITLE_MAX = 500;
export const INBOX_BODY_MAX = 5_000;

const str = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null);

/** `finding_created` → `Finding created`. */
export function humanize(type: string): string {
  const words = type.replace(/[._:-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Only http(s) links reach a reader: a `javascript:` URL in event data must not become a clickable link. */
export function safeLink(value: unknown): string | null {
  const raw = str(value);
  if (!raw) return null;
  try {
    const url = new URL(raw);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/**
 * The built-in title and body of a short message (in-app, push, chat) when no stored template
 * overrides it: the event's own title and body, else its type in words.
 */
export function defaultMessageText(type: string, data: Record<string, unknown>): { title: string; body: string } {
  return {
    title: (str(data.title) ?? humanize(type)).slice(0, INBOX_TITLE_MAX),
    body: (str(data.body) ?? str(data.description) ?? str(data.message) ?? '').slice(0, INBOX_BODY_MAX),
  };
}

/** The inbox row's text when no template overrides it. */
export function defaultInboxContent(event: EventEnvelope): InboxContent {
  return { ...defaultMessageText(event.type, event.data), url: safeLink(event.data.url) };
}
