import type { OpenAPIRegistry, ResponseConfig, RouteConfig, ZodRequestBody } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { AllowHosts } from '../../outbound/urlPolicy.ts';

/** The one error body every failure is rendered as (src/http/errorHandler.ts). */
export const errorSchema = z
  .object({
    error: z.object({
      code: z.string().meta({ example: 'invalid_request' }),
      message: z.string().meta({ description: 'names the field when input was refused', example: 'tenantId: must be 1–128 characters of A-Z a-z 0-9 . _ : -' }),
      details: z.array(z.unknown()).meta({ description: 'for invalid input: `[{ "field", "message" }]`, one per problem' }),
    }),
  })
  .meta({ id: 'Error' });

const ERROR_MEANINGS = {
  400: 'Invalid input (code `invalid_request`); `message` and `details` name the field.',
  401: 'Missing or invalid credentials (code `unauthorized`).',
  403: 'The credential may not use this endpoint, or not for this tenant (code `forbidden`).',
  404: 'Not found, or not visible to this credential (code `not_found`).',
  409: 'Conflicts with the current state (code `conflict`).',
  413: 'Body over 256 KiB (code `payload_too_large`).',
  422: 'A named tenant does not exist (code `unknown_tenant`).',
  429: 'Over this service key’s event rate (code `rate_limited`); retry after `Retry-After` seconds.',
  502: 'The SMTP relay could not be reached (code `smtp_unavailable`).',
  503: 'Storage is unavailable (code `unavailable`); retry after `Retry-After` seconds. Nothing was stored.',
} as const;

export type ErrorStatus = keyof typeof ERROR_MEANINGS;

const retryAfter = { 'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' as const } } };

/** The 403 of a state-changing operation a browser may call with the session cookie. */
export const CROSS_SITE_COOKIE = { 403: 'Authenticated by the `herald_token` cookie from another origin (code `forbidden`): see the userTokenCookie scheme.' };

/** The error answers of an operation, each with its usual meaning; `overrides` words one for this operation. */
export function errors(statuses: ErrorStatus[], overrides: Partial<Record<ErrorStatus, string>> = {}): Record<number, ResponseConfig> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      {
        description: overrides[status] ?? ERROR_MEANINGS[status],
        ...(status === 429 || status === 503 ? { headers: retryAfter } : {}),
        content: { 'application/json': { schema: errorSchema } },
      },
    ]),
  );
}

/** A JSON answer. */
export function json(description: string, schema: z.ZodType): ResponseConfig {
  return { description, content: { 'application/json': { schema } } };
}

/** A required JSON request body. */
export function jsonBody(schema: z.ZodType): ZodRequestBody {
  return { required: true, content: { 'application/json': { schema } } };
}

/** `:id` in Express is `{id}` in OpenAPI. */
export function idParam(schema: z.ZodType, description: string) {
  return z.object({ id: schema.meta({ description }) });
}

/**
 * Who may call. Service keys and user tokens both travel as `Authorization: Bearer`; browsers
 * may also send a user token as the `herald_token` cookie or `?access_token=` (SPEC §5), because
 * EventSource cannot set headers.
 */
const SECURITY_SCHEMES = {
  serviceKey: { type: 'http', scheme: 'bearer', description: 'A service key from `SERVICE_KEYS`, scoped to its tenants (`*` for all).' },
  userToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      'A user JWT (HS256): `sub` = user id, `tenants` = accessible tenant ids, `role` = `user` | `admin`. The admin API needs `role: admin`. `exp` is required; a token issued (`iat`) more than `JWT_MAX_AGE_SECONDS` ago (default 86400), or without `iat` and with `exp` further ahead than that, is refused.',
  },
  userTokenCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'herald_token',
    description: 'The user JWT as a cookie. A state-changing request (not GET/HEAD/OPTIONS) it authenticates must come from the API’s own origin — `Sec-Fetch-Site: same-origin`, or an `Origin` of the API’s host — else 403.',
  },
  userTokenQuery: { type: 'apiKey', in: 'query', name: 'access_token', description: 'The user JWT in the query (redacted from logs), for EventSource.' },
} as const;

export function registerSecuritySchemes(registry: OpenAPIRegistry): void {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) registry.registerComponent('securitySchemes', name, scheme);
}

type Security = NonNullable<RouteConfig['security']>;

/** Publishing: service keys only. */
export const SERVICE_KEY: Security = [{ serviceKey: [] }];
/** The admin API: a service key or an admin user token, both scoped to their tenants. */
export const ADMIN: Security = [{ serviceKey: [] }, { userToken: [] }];
/** A signed-in person. */
export const USER: Security = [{ userToken: [] }, { userTokenCookie: [] }, { userTokenQuery: [] }];
/** No credential. */
export const PUBLIC: Security = [];

/**
 * URL fields are checked against the deployment's `OUTBOUND_ALLOW_HOSTS`, which is configuration,
 * not contract: the document builds those schemas with the default policy (no exceptions).
 */
export const DOCUMENTED_ALLOW_HOSTS: AllowHosts = [];
