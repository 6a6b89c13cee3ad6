import { z } from 'zod';
import type { Preferences } from '../db/schema.ts';
import { isChannel, type Channel } from './channels.ts';

/** Legacy flat keys from before namespacing, and the namespaced key each stands for. */
export const LEGACY_PREFERENCE_KEYS: Readonly<Record<string, string>> = {
  sla_breach_email: 'sla_breached.email',
  new_finding_email: 'finding_created.email',
  scan_complete_email: 'scan_completed.email',
};

/** The legacy key standing for a namespaced one: routing asks this for every recipient and channel. */
const LEGACY_KEY_OF = new Map(Object.entries(LEGACY_PREFERENCE_KEYS).map(([legacy, namespaced]) => [namespaced, legacy]));

/** What an unset preference means: on for inapp, email and push; personal chat is opt-in. */
const CHANNEL_DEFAULTS: Record<Channel, boolean> = {
  inapp: true,
  email: true,
  push: true,
  webhook: true,
  slack: false,
  teams: false,
};

const NAMESPACED_KEY = /^([A-Za-z0-9._:-]{1,100})\.([a-z]+)$/;
export const MAX_KEYS = 1_000;

// `in` would also accept inherited names such as `constructor` or `__proto__`.
const isLegacyKey = (key: string) => Object.hasOwn(LEGACY_PREFERENCE_KEYS, key);

/**
 * A preference matrix: `"<eventType>.<channel>": boolean` or a legacy key; anything else is a 400
 * naming the key. The keys are checked on the raw object, since a parsed record would already
 * have dropped a `__proto__` key instead of refusing it.
 */
export const preferencesSchema = z
  .unknown()
  .superRefine((input, ctx) => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'must be an object of "<eventType>.<channel>": boolean' });
      return;
    }
    const keys = Object.keys(input);
    if (keys.length > MAX_KEYS) ctx.addIssue({ code: 'custom', path: [], message: `must have at most ${MAX_KEYS} keys` });
    for (const key of keys) {
      if (!isLegacyKey(key)) {
        const match = NAMESPACED_KEY.exec(key);
        if (!match || !isChannel(match[2]!)) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'must be "<eventType>.<channel>" with a known channel, or a legacy key' });
          continue;
        }
      }
      if (typeof (input as Record<string, unknown>)[key] !== 'boolean') ctx.addIssue({ code: 'custom', path: [key], message: 'must be true or false' });
    }
  })
  .transform((input) => ({ ...(input as Preferences) }))
  // The checks above run in code, which the API document cannot see; this is the shape they enforce.
  .meta({
    type: 'object',
    description: '"<eventType>.<channel>": boolean, or a legacy key (sla_breach_email, new_finding_email, scan_complete_email); unset keys keep the channel default',
    additionalProperties: { type: 'boolean' },
    maxProperties: MAX_KEYS,
    example: { 'finding_created.email': false, 'sla_breached.slack': true },
  });

/** Whether a user wants `eventType` on `channel`: the namespaced key wins, then the legacy key, then the default. */
export function wantsChannel(preferences: Preferences, eventType: string, channel: Channel): boolean {
  const namespacedKey = `${eventType}.${channel}`;
  const namespaced = Object.hasOwn(preferences, namespacedKey) ? preferences[namespacedKey] : undefined;
  if (typeof namespaced === 'boolean') return namespaced;
  const legacyKey = LEGACY_KEY_OF.get(namespacedKey);
  const legacy = legacyKey === undefined ? undefined : preferences[legacyKey];
  return typeof legacy === 'boolean' ? legacy : CHANNEL_DEFAULTS[channel];
}
