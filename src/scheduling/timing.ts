import type { Channel } from '../routing/channels.ts';

/**
 * Messages to a person that wait out their quiet hours (SPEC §4.1): email, push and personal
 * chat. In-app rows, team chat posts and webhooks are never held.
 */
export function waitsOutQuietHours(delivery: { channel: Channel; userId?: string | null; teamId?: string | null }): boolean {
  if (!delivery.userId || delivery.teamId) return false;
  return delivery.channel === 'email' || delivery.channel === 'push' || delivery.channel === 'slack' || delivery.channel === 'teams';
}

/** The channels a rule's digest gathers (SPEC §4.1); in-app rows and webhooks are never digested. */
export const DIGESTED_CHANNELS: readonly Channel[] = ['email', 'push', 'slack', 'teams'];

/**
 * The value that splits a rule's digest windows (SPEC §4.1): what event data holds at the
 * digest's dotted `key` path, as text; '' without a key or a value, so those events share a window.
 */
export function digestKeyValue(data: Record<string, unknown>, key: string | undefined): string {
  if (!key) return '';
  let value: unknown = data;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, part)) return '';
    value = (value as Record<string, unknown>)[part];
  }
  if (value === null || value === undefined) return '';
  return (typeof value === 'string' ? value : JSON.stringify(value)).slice(0, 500);
}
