import { z } from 'zod';
import type { Preferences } from '../db/schema.ts';
import { isChannel, type Channel } from './channels.ts';

/** Legacy flat keys from before namespacing, and the namespaced key each stands for. */
export const LEGACY_PREFERENCE_KEYS: Record<string, string> = {
  sla_breach_email: 'sla_breached.email',
  new_finding_email: 'finding_created.email',
  scan_complete_email: 'scan_completed.email',
};

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

/** A preference matrix: `"<eventType>.<channel>": boolean` or a legacy key; anything else is a 400 naming the key. */
export const preferencesSchema = z.record(z.string(), z.unknown()).superRefine((matrix, ctx) => {
  for (const [key, value] of Object.entries(matrix)) {
    if (!(key in LEGACY_PREFERENCE_KEYS)) {
      const match = NAMESPACED_KEY.exec(key);
      if (!match || !isChannel(match[2]!)) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'must be "<eventType>.<channel>" with a known channel, or a legacy key' });
        continue;
      }
    }
    if (typeof value !== 'boolean') ctx.addIssue({ code: 'custom', path: [key], message: 'must be true or false' });
  }
}) as unknown as z.ZodType<Preferences>;

/** Whether a user wants `eventType` on `channel`: the namespaced key wins, then the legacy key, then the default. */
export function wantsChannel(preferences: Preferences, eventType: string, channel: Channel): boolean {
  const namespacedKey = `${eventType}.${channel}`;
  const namespaced = preferences[namespacedKey];
  if (typeof namespaced === 'boolean') return namespaced;
  for (const [legacyKey, standsFor] of Object.entries(LEGACY_PREFERENCE_KEYS)) {
    const legacy = preferences[legacyKey];
    if (standsFor === namespacedKey && typeof legacy === 'boolean') return legacy;
  }
  return CHANNEL_DEFAULTS[channel];
}
