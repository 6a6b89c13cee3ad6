import { createHash, timingSafeEqual } from 'node:crypto';
import { scopeOf, type Principal } from './principal.ts';

type KeyEntry = { digest: Buffer; keyId: string; tenants: readonly string[] };

/**
 * Looks service keys up by constant-time comparison of their SHA-256 digests, so neither the
 * key nor its length leaks through timing. `keyId` is a short digest prefix, safe to log.
 */
export function createServiceKeyStore(keys: Record<string, readonly string[]>) {
  const entries: KeyEntry[] = Object.entries(keys).map(([key, tenants]) => {
    const digest = createHash('sha256').update(key).digest();
    return { digest, keyId: digest.toString('hex').slice(0, 12), tenants };
  });

  return {
    authenticate(presented: string): Extract<Principal, { kind: 'service' }> | null {
      const digest = createHash('sha256').update(presented).digest();
      let match: KeyEntry | undefined;
      for (const entry of entries) if (timingSafeEqual(entry.digest, digest)) match = entry;
      return match ? { kind: 'service', keyId: match.keyId, tenants: scopeOf(match.tenants) } : null;
    },
  };
}

export type ServiceKeyStore = ReturnType<typeof createServiceKeyStore>;
