import type { EventEnvelope } from '../intake/eventEnvelope.ts';

export type InboxContent = { title: string; body: string; url: string | null };

const str = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null);

function humanize(type: string): string {
  const words = type.replace(/[._:-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Only http(s) links reach the inbox: a `javascript:` URL in event data must not become a clickable link. */
function safeLink(value: unknown): string | null {
  const raw = str(value);
  if (!raw) return null;
  try {
    const url = new URL(raw);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : null;
  } catch {
    return null;
  }
}

/** The inbox row's text when no template overrides it: the event's own title and body, else its type in words. */
export function defaultInboxContent(event: EventEnvelope): InboxContent {
  const data = event.data;
  return {
    title: (str(data.title) ?? humanize(event.type)).slice(0, 500),
    body: (str(data.body) ?? str(data.description) ?? str(data.message) ?? '').slice(0, 5_000),
    url: safeLink(data.url),
  };
}
