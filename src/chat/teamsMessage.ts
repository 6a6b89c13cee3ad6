import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Priority } from '../routing/priority.ts';
import type { MessageText } from '../templates/messageText.ts';
import { charCount, chatContent, truncate, type ChatContent } from './chatContent.ts';

/**
 * Microsoft's documented limits for posting to Teams through an incoming webhook or a Power
 * Automate workflow: the whole message at most 28 KB, or the post fails with 413 "Request Entity
 * too large". Cards have no per-field limits, so only the body text is bounded, and then shrunk
 * further until the message fits.
 */
export const TEAMS_LIMITS = {
  payloadBytes: 28 * 1024,
  bodyText: 4_000,
} as const;

/**
 * 1.4 rather than 1.5: Teams mobile clients and Power Automate's "post card" action lag behind
 * desktop, and nothing here needs 1.5.
 */
export const ADAPTIVE_CARD_VERSION = '1.4';

type CardElement = Record<string, unknown> & { type: string };

export type AdaptiveCard = {
  type: 'AdaptiveCard';
  $schema: string;
  version: string;
  body: CardElement[];
  actions?: CardElement[];
  msteams: { width: 'Full' };
};

/** The `message` envelope both incoming webhooks and workflow triggers accept. */
export type TeamsMessage = {
  type: 'message';
  attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive'; contentUrl: null; content: AdaptiveCard }];
};

/**
 * TextBlocks and facts render Markdown (bold, italic, lists, `[title](url)` links), so event text
 * must not bring its own: a title like `[Reset your password](https://evil.example)` would become
 * a link in the channel. Each such character is backslash-escaped, as Slack's output escapes
 * its own control characters, and a line that would start a list does not.
 */
export function escapeTeamsMarkdown(text: string): string {
  return text.replace(/[\\*_~`[\]()]/g, '\\$&').replace(/^(\s*)([-+]|\d+\.)(?=\s)/gm, (_m, indent: string, marker: string) => `${indent}\\${marker}`);
}

function adaptiveCard(content: ChatContent, body: string): AdaptiveCard {
  const elements: CardElement[] = [];
  if (content.severityLabel) {
    elements.push({
      type: 'TextBlock',
      text: content.severityLabel.toUpperCase(),
      weight: 'Bolder',
      size: 'Small',
      color: content.pressing ? 'Attention' : 'Default',
      spacing: 'None',
    });
  }
  elements.push({ type: 'TextBlock', text: escapeTeamsMarkdown(content.title), weight: 'Bolder', size: 'Large', wrap: true });
  if (body) elements.push({ type: 'TextBlock', text: escapeTeamsMarkdown(body), wrap: true });
  elements.push({
    type: 'FactSet',
    facts: [
      // Ids of [A-Za-z0-9._:-] can form neither a link nor a list, and CommonMark leaves an
      // underscore inside a word alone; escaping them would show backslashes on mobile clients.
      { title: 'Tenant', value: content.tenantId },
      { title: 'Event', value: content.eventType },
      { title: 'Occurred', value: content.occurredAt },
    ],
  });
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: ADAPTIVE_CARD_VERSION,
    body: elements,
    ...(content.url && { actions: [{ type: 'Action.OpenUrl', title: 'Open', url: content.url }] }),
    // Without it Teams renders cards at a narrow fixed width.
    msteams: { width: 'Full' },
  };
}

function envelope(card: AdaptiveCard): TeamsMessage {
  return { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] };
}

/** The UTF-8 size Teams measures: JSON escapes can make a character cost up to six bytes. */
export function messageBytes(message: unknown): number {
  return Buffer.byteLength(JSON.stringify(message), 'utf8');
}

/** The Adaptive Card message for one event, within TEAMS_LIMITS. Pure. */
export function teamsMessage(event: EventEnvelope, text?: MessageText, priority?: Priority): TeamsMessage {
  const content = chatContent(event, text, priority);
  let body = truncate(content.body, TEAMS_LIMITS.bodyText);
  for (;;) {
    const message = envelope(adaptiveCard(content, body));
    if (body === '' || messageBytes(message) <= TEAMS_LIMITS.payloadBytes) return message;
    const half = Math.floor(charCount(body) / 2);
    body = half > 1 ? truncate(body, half) : '';
  }
}
