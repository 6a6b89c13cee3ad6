import { conversationsPack } from './conversations.ts';
import { platformPack } from './platform.ts';
import type { RulePack } from './rulePack.ts';

/** Every rule pack a tenant can install (SPEC §3.2), in the order GET /api/v1/rule-packs lists them. */
export const RULE_PACKS: readonly RulePack[] = [platformPack, conversationsPack];

export function findRulePack(id: string): RulePack | null {
  return RULE_PACKS.find((pack) => pack.id === id) ?? null;
}

/** The example data a pack documents for an event type, if any pack covers it. */
export function packSampleData(eventType: string): Record<string, unknown> | null {
  for (const pack of RULE_PACKS) if (Object.hasOwn(pack.sampleData, eventType)) return pack.sampleData[eventType]!;
  return null;
}
