import { conversationsPack } from './conversations.ts';
import { platformPack } from './platform.ts';
import type { RulePack } from './rulePack.ts';

/** Every rule pack a tenant can install (SPEC §3.2), in the order GET /api/v1/rule-packs lists them. */
export const RULE_PACKS: readonly RulePack[] = [platformPack, conversationsPack];

export function findRulePack(id: string): RulePack | null {
  return RULE_PACKS.find((pack) => pack.id === id) ?? null;
}
