/** Who is calling: a service with a key, or a signed-in user. */
export type Principal =
  | { kind: 'service'; keyId: string; tenants: TenantScope }
  | { kind: 'user'; userId: string; role: 'user' | 'admin'; tenants: TenantScope };

/** The tenants a caller may act for; `all` is a service key configured with `["*"]`. */
export type TenantScope = { all: true } | { all: false; ids: ReadonlySet<string> };

export function scopeOf(tenantIds: readonly string[]): TenantScope {
  return tenantIds.includes('*') ? { all: true } : { all: false, ids: new Set(tenantIds) };
}

/** The one tenant-scope check every route calls. */
export function canAccessTenant(scope: TenantScope, tenantId: string): boolean {
  return scope.all || scope.ids.has(tenantId);
}

/** Admin operations: a service key, or a user token with role admin (still scoped to its tenants). */
export function isAdmin(principal: Principal): boolean {
  return principal.kind === 'service' || principal.role === 'admin';
}
