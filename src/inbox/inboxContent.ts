import type { EventEnvelope, EventRef } from '../intake/eventEnvelope.ts';
import type { Priority } from '../routing/priority.ts';
import type { RuleContent } from '../routing/ruleSpec.ts';
import { TemplateTooExpensiveError } from '../templates/handlebars.ts';
import { messageText } from '../templates/messageText.ts';
import type { TemplateSource } from '../templates/templateRenderer.ts';
import { createInboxPairs } from './inboxWriter.ts';

/**
 * An inbox row's content, the same for every recipient it is for (rendered once, so in-app
 * templates and rule content see no `user.*`). `key` names it (see contentKey).
 */
export type InboxContent = {
  key: string;
  event_id: string;
  tenant_id: string;
  type: string;
  severity: string | null;
  title: string;
  body: string;
  url: string | null;
  data: Record<string, unknown>;
  actor: { id: string; name: string } | null;
};

/** One content an event's rows take: the default, or a rule's (SPEC §3.1, the rule that won the person). */
export type ContentVariant = { event: EventEnvelope; actorName: string | null; rule: { id: string; content: RuleContent } | null };

/** Which content a row takes: its event's default, or a rule's content for it. It travels as a query parameter, so no NUL separators. */
export const contentKey = (event: EventRef, ruleId: string | null): string => JSON.stringify([event.tenantId, event.id, ruleId]);

/**
 * The contents of several variants, each rendered once. A variant past the render budget gets
 * none: the rows that would take it fail for good with that reason (SPEC §7.1; `refused`, by
 * contentKey), and every other one goes on. A template that fails to render otherwise must not
 * keep the notification from the inbox: the built-in text stands in.
 */
export async function renderInboxContents(source: TemplateSource, variants: ContentVariant[]): Promise<{ contents: InboxContent[]; refused: Map<string, string> }> {
  const refused = new Map<string, string>();
  const rendered = await Promise.all(
    variants.map((variant) =>
      inboxContent(source, variant).catch((err: unknown) => {
        if (!(err instanceof TemplateTooExpensiveError)) throw err;
        refused.set(contentKey(variant.event, variant.rule?.id ?? null), err.message);
        return null;
      }),
    ),
  );
  return { contents: rendered.filter((c): c is InboxContent => c !== null), refused };
}

/** A variant's content: the template store's (or built-in) text, with what the rule's content sets over it. */
async function inboxContent(source: TemplateSource, { event, actorName, rule }: ContentVariant): Promise<InboxContent> {
  const { title, body, url } = await messageText(source, event, 'inapp', rule?.content ?? null);
  return {
    key: contentKey(event, rule?.id ?? null),
    event_id: event.id,
    tenant_id: event.tenantId,
    type: event.type,
    severity: event.severity,
    title,
    body,
    url,
    data: event.data,
    actor: event.actorId && actorName !== null ? { id: event.actorId, name: actorName } : null,
  };
}

/**
 * A person an event's in-app row goes to: their priority, the rule that routed it to them (null:
 * none, an assignee say), and the rule whose content their row takes (null: the default).
 */
export type InappRecipient = { userId: string; priority: Priority; ruleId: string | null; contentRule: { id: string; content: RuleContent } | null };

/** A row whose content was refused (see renderInboxContents), with what its failed delivery records. */
export type RefusedRow = { event: EventRef; userId: string; reason: string; priority: Priority; ruleId: string | null };

/**
 * The rows a group writes, ready for insertInboxRows: each event's contents rendered once per
 * variant its recipients take, and the (event, user) pairs in order. Rows whose content went
 * past the render budget are left out and listed in `refused`, to fail their deliveries.
 */
export async function prepareInboxRows(
  source: TemplateSource,
  items: { event: EventEnvelope; actorName: string | null; recipients: InappRecipient[] }[],
): Promise<{ contents: InboxContent[]; pairs: ReturnType<typeof createInboxPairs>; refused: RefusedRow[] }> {
  const variants = new Map<string, ContentVariant>();
  for (const { event, actorName, recipients } of items) {
    for (const { contentRule } of recipients) variants.set(contentKey(event, contentRule?.id ?? null), { event, actorName, rule: contentRule });
  }
  const { contents, refused: refusedKeys } = await renderInboxContents(source, [...variants.values()]);
  const pairs = createInboxPairs();
  const refused: RefusedRow[] = [];
  for (const { event, recipients } of items) {
    for (const { userId, priority, ruleId, contentRule } of recipients) {
      const key = contentKey(event, contentRule?.id ?? null);
      const reason = refusedKeys.get(key);
      if (reason) refused.push({ event, userId, reason, priority, ruleId });
      else pairs.add(event, userId, key, priority);
    }
  }
  return { contents, pairs, refused };
}
