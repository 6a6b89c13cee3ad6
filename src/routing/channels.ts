export const CHANNELS = ['inapp', 'email', 'webhook', 'slack', 'teams', 'push'] as const;
export type Channel = (typeof CHANNELS)[number];

export function isChannel(value: string): value is Channel {
  return (CHANNELS as readonly string[]).includes(value);
}
