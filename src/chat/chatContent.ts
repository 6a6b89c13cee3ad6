import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import { severityRank, type Severity } from '../routing/severity.ts';
import { DEFAULT_PRIORITY, priorityRank, type Priority } from '../routing/priority.ts';
import { defaultInboxContent } from '../templates/defaultContent.ts';
import type { MessageText } from '../templates/messageText.ts';

/** What a chat post says about an event, before Slack or Teams formatting. */
export type ChatContent = {
  title: string;
  body: string;
  severity: Severity | null;
  /** "High", or null for an event without a severity. */
  severityLabel: string | null;
  /** True from `high` up: the platforms get an attention colour. */
  pressing: boolean;
  tenantId: string;
  eventType: string;
  eventId: string;
  occurredAt: string;
  /** The event's link, only when it is https: a chat button is a one-click way out of the chat client. */
  url: string | null;
};

export const ELLIPSIS = '…';

/**
 * Cuts `text` to at most `max` characters, ending in an ellipsis when anything was cut. Counts
 * code points, so an emoji is never split into half a surrogate pair.
 */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  return chars.slice(0, Math.max(0, max - 1)).join('').trimEnd() + ELLIPSIS;
}

/** The length `truncate` measures. */
export function charCount(text: string): number {
  return Array.from(text).length;
}

function httpsOnly(url: string | null): string | null {
  return url !== null && url.startsWith('https://') ? url : null;
}

/**
 * What a post says: the text rendered for it (see messageText; the event's own text when absent)
 * and the delivery's priority. A high or urgent notification gets the attention colour like a
 * high-severity one.
 */
export function chatContent(event: EventEnvelope, text: MessageText = defaultInboxContent(event), priority: Priority = DEFAULT_PRIORITY): ChatContent {
  const severity = event.severity;
  const pressingSeverity = severity !== null && severityRank(severity) >= severityRank('high');
  return {
    title: text.title.trim() || defaultInboxContent(event).title,
    body: text.body,
    severity,
    severityLabel: severity ? severity.charAt(0).toUpperCase() + severity.slice(1) : null,
    pressing: pressingSeverity || priorityRank(priority) >= priorityRank('high'),
    tenantId: event.tenantId,
    eventType: event.type,
    eventId: event.id,
    occurredAt: event.occurredAt,
    url: httpsOnly(text.url),
  };
}
