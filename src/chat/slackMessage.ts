import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Priority } from '../routing/priority.ts';
import type { MessageText } from '../templates/messageText.ts';
import type { Severity } from '../routing/severity.ts';
import { charCount, chatContent, ELLIPSIS, truncate } from './chatContent.ts';

/**
 * Slack's documented Block Kit limits (docs.slack.dev/reference/block-kit): one field over its
 * limit makes Slack refuse the whole message (`invalid_blocks`), so every text is cut to fit.
 */
export const SLACK_LIMITS = {
  /** header block: plain_text, 150 characters. */
  headerText: 150,
  /** section block `text`, and any text object: 3000 characters. */
  sectionText: 3000,
  /** context block: at most 10 elements, each a text object (3000 characters). */
  contextElements: 10,
  contextText: 3000,
  /** button element: label 75 characters, url 3000 characters. */
  buttonText: 75,
  buttonUrl: 3000,
  /** a message carries at most 50 blocks. */
  blocks: 50,
  /** top-level `text`, the notification fallback: Slack cuts at 40,000; a preview needs far less. */
  fallbackText: 3000,
} as const;

type PlainText = { type: 'plain_text'; text: string; emoji: true };
type Mrkdwn = { type: 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text: Mrkdwn }
  | { type: 'context'; elements: Mrkdwn[] }
  | { type: 'actions'; elements: { type: 'button'; text: PlainText; url: string; action_id: string }[] };

/** The incoming-webhook body: `text` is what notifications and screen readers show; `blocks` is the message. */
export type SlackMessage = { text: string; blocks: SlackBlock[] };

const SEVERITY_EMOJI: Record<Severity, string> = {
  info: ':information_source:',
  low: ':large_blue_circle:',
  medium: ':large_yellow_circle:',
  high: ':large_orange_circle:',
  critical: ':red_circle:',
  urgent: ':rotating_light:',
};

/** Slack reads `<`, `>` and `&` in mrkdwn as link and mention syntax; event text must not create either. */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** Escaped mrkdwn cut to `max`, never ending in half an entity (`&am…`). */
function fitMrkdwn(escaped: string, max: number): string {
  if (charCount(escaped) <= max) return escaped;
  return truncate(escaped, max).replace(new RegExp(`&[a-z]{0,3}${ELLIPSIS}$`), ELLIPSIS);
}

const plain = (text: string, max: number): PlainText => ({ type: 'plain_text', text: truncate(text, max), emoji: true });

/** `<!date^…>` renders in each reader's own time zone; the part after `|` is shown where it cannot be. */
function slackDate(iso: string): string {
  const seconds = Math.floor(new Date(iso).getTime() / 1000);
  return Number.isFinite(seconds) ? `<!date^${seconds}^{date_short_pretty} {time}|${escapeMrkdwn(iso)}>` : escapeMrkdwn(iso);
}

/** The Block Kit message for one event: header, severity and title, tenant and type, and a link button. Pure. */
export function slackMessage(event: EventEnvelope, text?: MessageText, priority?: Priority): SlackMessage {
  const content = chatContent(event, text, priority);
  const severity = content.severity ? `${SEVERITY_EMOJI[content.severity]} *${content.severityLabel}*  ` : '';
  const summary = `${severity}${escapeMrkdwn(content.title)}${content.body ? `\n${escapeMrkdwn(content.body)}` : ''}`;
  const context = `Tenant *${escapeMrkdwn(content.tenantId)}* · \`${escapeMrkdwn(content.eventType)}\` · ${slackDate(content.occurredAt)}`;

  const blocks: SlackBlock[] = [
    // A header is one line; a title with line breaks would otherwise render as several.
    { type: 'header', text: plain(content.title.replace(/\s+/g, ' '), SLACK_LIMITS.headerText) },
    { type: 'section', text: { type: 'mrkdwn', text: fitMrkdwn(summary, SLACK_LIMITS.sectionText) } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: fitMrkdwn(context, SLACK_LIMITS.contextText) }] },
  ];
  if (content.url && content.url.length <= SLACK_LIMITS.buttonUrl) {
    blocks.push({
      type: 'actions',
      elements: [{ type: 'button', text: plain('Open', SLACK_LIMITS.buttonText), url: content.url, action_id: 'open_event' }],
    });
  }
  const fallback = `${content.severityLabel ? `[${content.severityLabel}] ` : ''}${escapeMrkdwn(content.title)}`;
  // Four blocks at most, far inside SLACK_LIMITS.blocks.
  return { text: fitMrkdwn(fallback, SLACK_LIMITS.fallbackText), blocks };
}
