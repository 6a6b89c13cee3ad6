import { PermanentDeliveryError } from '../errors.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { RuleContent } from '../routing/ruleSpec.ts';
import { oneLine, type DigestContext } from './content.ts';
import { defaultInboxContent, defaultMessageText, safeLink, type InboxContent as MessageText } from './defaultContent.ts';
import { TemplateError, TemplateTooExpensiveError } from './handlebars.ts';
import { compiledRuleContent, renderRuleContent } from './ruleContent.ts';
import { renderMessage, type TemplateSource } from './templateRenderer.ts';

export type { MessageText };

/** A render that failed for a reason other than the budget gives way to other text; a budget failure is the caller's to report. */
function unlessTooExpensive(err: unknown): null {
  if (err instanceof TemplateError && !(err instanceof TemplateTooExpensiveError)) return null;
  throw err;
}

/**
 * The title, body and link of a short message — an in-app row, a push, a chat post — for an
 * event on a channel (SPEC §3.1, §7): the template store's text (else the built-in one), with
 * what the rule's content sets over it. A template that fails to render gives way to the text
 * beneath it, so a notification is never lost to a typo; one past the render budget throws
 * TemplateTooExpensiveError, and the caller fails what would have carried it. Rendered without
 * `user.*`: one text serves every recipient.
 */
export async function messageText(source: TemplateSource, event: EventEnvelope, channel: string, content: RuleContent | null): Promise<MessageText> {
  const stored = await renderMessage(source, event, channel, null).then((rendered) => rendered.content, unlessTooExpensive);
  const base: MessageText = stored ? { ...stored, url: safeLink(event.data.url) } : defaultInboxContent(event);
  if (!content) return base;
  const brand = (await source.brand(event.tenantId)).brand;
  let own;
  try {
    own = renderRuleContent(compiledRuleContent(content), event, null, brand);
  } catch (err) {
    own = unlessTooExpensive(err);
  }
  if (!own) return base;
  return { title: own.title ?? base.title, body: own.body ?? base.body, url: own.url ?? base.url };
}

/** Lines of a digest's short message before it says how many more there are. */
const DIGEST_LINES = 10;

/**
 * A digest's short message (SPEC §4.1): how many events, and each one's title, oldest first. A
 * digest of one event is that event's own message; rule content and stored templates are
 * written for one event, so they do not apply to a list.
 */
export function digestMessageText(digest: DigestContext): MessageText {
  const lines = digest.events.slice(0, DIGEST_LINES).map(({ event, data }) => `• ${oneLine(defaultMessageText(event.type, data).title)}`);
  const more = digest.count - lines.length;
  return { title: `${digest.count} new notifications`, body: [...lines, ...(more > 0 ? [`and ${more} more`] : [])].join('\n'), url: null };
}

/**
 * messageText for one delivery (a digest's, when it carries one of several events): past the
 * render budget, the delivery fails for good with that reason (SPEC §7.1).
 */
export async function deliveryMessageText(
  source: TemplateSource,
  event: EventEnvelope,
  channel: string,
  content: RuleContent | null,
  digest?: DigestContext | null,
): Promise<MessageText> {
  if (digest && digest.count > 1) return digestMessageText(digest);
  return messageText(source, event, channel, content).catch((err: unknown) => {
    throw err instanceof TemplateTooExpensiveError ? new PermanentDeliveryError(err.message) : err;
  });
}
