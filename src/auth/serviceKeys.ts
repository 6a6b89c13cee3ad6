import { createHash, timingSafeEqual } from 'node:crypto';
import { scopeOf, type Principal } from './principal.ts';

type KeyEntry = { digest: Buffer; keyId: string; tenants: readonly string[] };

const digestOf = (key: string) => createHash('sha256').update(key).digest();

/** A short digest prefix naming a key (configured or not) where the key itself must never go: logs, dead letters. */
export const keyIdOf = (key: string): string => digestOf(key).toString('hex').slice(0, 12);

/**
 * Looks service keys up by constant-time comparison of their SHA-256 digests, so neither the
 * key nor its length leaks through timing. `keyId` is a short digest prefix, safe to log.
 */
export function createServiceKeyStore(keys: Record<string, readonly string[]>) {
  const entries: KeyEntry[] = Object.entries(keys).map(([key, tenants]) => {
    return { digest: digestOf(key), keyId: keyIdOf(key), tenants };
  });

  return {
    authenticate(presented: string): Extract<Principal, { kind: 'service' }> | null {
      const digest = digestOf(presented);
      let match: KeyEntry | undefined;
      for (const entry of entries) if (timingSafeEqual(entry.digest, digest)) match = entry;
      return match ? { kind: 'service', keyId: match.keyId, tenants: scopeOf(match.tenants) } : null;
    },
  };
}

export type ServiceKeyStore = ReturnType<typeof createServiceKeyStore>;
