import type { Priority } from './priority.ts';

/**
 * Who a rule reaches (SPEC §3.1). `event`: the event's own recipients (assignees and explicit
 * recipients, or the approval roles); `users`: these users; `teams`: the members of these teams
 * of the event's tenant; `role`: users holding this role in the event's tenant; `data`: the user
 * ids at this dotted path of the event's data (a string or an array of strings).
 */
export type RecipientSpec =
  | { kind: 'event' }
  | { kind: 'users'; userIds: string[] }
  | { kind: 'teams'; teamIds: string[] }
  | { kind: 'role'; role: string }
  | { kind: 'data'; path: string };

export const EVENT_RECIPIENTS: RecipientSpec = { kind: 'event' };

/** Handlebars sources for the title, body and url of what a rule produces (in-app row, push, chat post). */
export type RuleContent = { title?: string; body?: string; url?: string };

/**
 * Timed delivery of a rule's messages (SPEC §4.1). `fallback`: for a rule with `inapp`, send on
 * `channel` after `afterSeconds` unless the in-app notification was seen (or read) by then, or —
 * `online` — unless the person had a live stream when it was written. `digest`: gather the rule's
 * email, push and chat messages per (recipient, value at `key`) for `windowSeconds`, or until
 * `maxItems`, into one.
 */
export type RuleDelivery = {
  fallback?: { channel: 'email' | 'push'; afterSeconds: number; unless: 'seen' | 'read' | 'online' };
  digest?: { windowSeconds: number; key?: string; maxItems: number };
};

/** The ids at a dotted path of event data: a string, or the strings of an array; anything else names nobody. */
export function idsAtPath(data: Record<string, unknown>, path: string): string[] {
  let value: unknown = data;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return [];
    value = (value as Record<string, unknown>)[key];
  }
  const ids = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  return [...new Set(ids.map((id) => id.trim()).filter((id) => id !== ''))];
}

/** A rule's stored priority: null when it sets none (it then raises nothing). */
export type RulePriority = Priority | null;
