import { SERVICE_KEY } from './testEnv.ts';

export type ApiResponse<T = any> = { status: number; body: T; headers: Headers };

/** A tiny JSON client for the API under test: real HTTP over loopback. */
export function apiClient(baseUrl: string, defaultToken: string = SERVICE_KEY) {
  async function call<T = any>(method: string, path: string, body?: unknown, token: string | null = defaultToken): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(baseUrl + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
  return {
    call,
    get: <T = any>(path: string, token?: string | null) => call<T>('GET', path, undefined, token),
    post: <T = any>(path: string, body?: unknown, token?: string | null) => call<T>('POST', path, body, token),
    put: <T = any>(path: string, body?: unknown, token?: string | null) => call<T>('PUT', path, body, token),
    patch: <T = any>(path: string, body?: unknown, token?: string | null) => call<T>('PATCH', path, body, token),
    delete: <T = any>(path: string, token?: string | null) => call<T>('DELETE', path, undefined, token),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

/** Polls until `check` returns a truthy value or the time is up (for work done by workers). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** Seeds a tenant and users through the API, as a client would. */
export async function seedDirectory(api: ApiClient, tenantId: string, userIds: string[]): Promise<void> {
  const tenant = await api.put(`/api/v1/tenants/${tenantId}`, { name: `Tenant ${tenantId}` });
  if (tenant.status >= 300) throw new Error(`seed tenant: ${tenant.status} ${JSON.stringify(tenant.body)}`);
  for (const userId of userIds) {
    const user = await api.put(`/api/v1/users/${userId}`, { email: `${userId}@${tenantId}.example`, name: userId, tenantIds: [tenantId] });
    if (user.status >= 300) throw new Error(`seed user: ${user.status} ${JSON.stringify(user.body)}`);
  }
}
