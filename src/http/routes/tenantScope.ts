import { z } from 'zod';
import { canAccessTenant, type TenantScope } from '../../auth/principal.ts';
import { forbidden } from '../../errors.ts';
import { tenantIdSchema } from '../../intake/eventEnvelope.ts';

/** The answer to a caller acting for a tenant outside its scope: 403. */
export function assertTenantAccess(scope: TenantScope, tenantId: string): void {
  if (!canAccessTenant(scope, tenantId)) throw forbidden(`not allowed for tenant ${tenantId}`);
}

export const listQuerySchema = z.object({
  tenantId: tenantIdSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/**
 * The tenants a list may show: the one asked for (403 if outside the caller's scope), else
 * every tenant in scope. `null` means no filter (a `*` key that asked for none).
 */
export function scopedTenantFilter(scope: TenantScope, tenantId: string | undefined): string[] | null {
  if (tenantId) {
    assertTenantAccess(scope, tenantId);
    return [tenantId];
  }
  return scope.all ? null : [...scope.ids];
}
