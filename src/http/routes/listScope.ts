import { z } from 'zod';
import { assertTenantAccess, type TenantScope } from '../../auth/principal.ts';
import { tenantIdSchema } from '../../intake/eventEnvelope.ts';

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
