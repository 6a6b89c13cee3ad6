import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { z } from 'zod';
import { entityIdSchema, tenantIdSchema } from '../../intake/eventEnvelope.ts';
import { brandingSchema } from '../../templates/branding.ts';
import { listQuerySchema } from '../routes/tenantScope.ts';
import { teamBody } from '../routes/teams.ts';
import { tenantBody } from '../routes/tenants.ts';
import { userBody } from '../routes/users.ts';
import { ADMIN, DOCUMENTED_ALLOW_HOSTS, errors, idParam, json, jsonBody, type ErrorStatus } from './common.ts';
import { listOf, teamView, tenantView, userView } from './responses.ts';

const branding = brandingSchema.meta({ id: 'Branding', description: 'What every template sees as `brand.*`. PUT replaces it whole; an absent or null field is cleared.' });

/** PUT/GET/DELETE of one directory resource: the three look alike for tenants, users and teams. */
function registerResource(
  registry: OpenAPIRegistry,
  options: { name: string; path: string; id: z.ZodType; body: z.ZodType; view: z.ZodType; putErrors: ErrorStatus[]; putDescription?: string },
): void {
  const { name, path } = options;
  const Name = name[0]!.toUpperCase() + name.slice(1);
  const params = idParam(options.id, `the ${name} id, chosen by the caller`);
  registry.registerPath({
    method: 'put',
    path,
    operationId: `put${Name}`,
    tags: ['directory'],
    summary: `Create or replace a ${name}`,
    ...(options.putDescription && { description: options.putDescription }),
    security: ADMIN,
    request: { params, body: jsonBody(options.body) },
    responses: {
      201: json(`Created; the stored ${name}.`, options.view),
      200: json(`Replaced; the stored ${name}.`, options.view),
      ...errors(options.putErrors),
    },
  });
  registry.registerPath({
    method: 'get',
    path,
    operationId: `get${Name}`,
    tags: ['directory'],
    summary: `One ${name}`,
    security: ADMIN,
    request: { params },
    responses: { 200: json(`The ${name}.`, options.view), ...errors([401, 403, 404]) },
  });
  registry.registerPath({
    method: 'delete',
    path,
    operationId: `delete${Name}`,
    tags: ['directory'],
    summary: `Delete a ${name}`,
    security: ADMIN,
    request: { params },
    responses: { 204: { description: 'Deleted.' }, ...errors([401, 403, 404]) },
  });
}

function registerList(registry: OpenAPIRegistry, plural: string, path: string, view: z.ZodType): void {
  registry.registerPath({
    method: 'get',
    path,
    operationId: `list${plural[0]!.toUpperCase()}${plural.slice(1)}`,
    tags: ['directory'],
    summary: `List ${plural} in the caller’s tenants`,
    security: ADMIN,
    request: { query: listQuerySchema },
    responses: { 200: json(`The ${plural}.`, listOf(view)), ...errors([400, 401, 403], { 403: 'tenantId is outside the caller’s scope.' }) },
  });
}

/** SPEC §7: tenants, their branding, users and teams. Service key or admin token, scoped to its tenants. */
export function registerDirectoryPaths(registry: OpenAPIRegistry): void {
  registerResource(registry, { name: 'tenant', path: '/api/v1/tenants/{id}', id: tenantIdSchema, body: tenantBody, view: tenantView, putErrors: [400, 401, 403] });
  registerResource(registry, {
    name: 'user',
    putDescription:
      'Creates or replaces the user. `preferences`, `slackWebhookUrl` and `teamsWebhookUrl` belong to the person: left out, the stored ones are kept (so a caller shown only whether a URL is set can send the user back unchanged); a URL set to null is removed.',
    path: '/api/v1/users/{id}',
    id: entityIdSchema,
    body: userBody(DOCUMENTED_ALLOW_HOSTS),
    view: userView,
    putErrors: [400, 401, 403, 422],
  });
  registerResource(registry, {
    name: 'team',
    path: '/api/v1/teams/{id}',
    id: entityIdSchema,
    body: teamBody(DOCUMENTED_ALLOW_HOSTS),
    view: teamView,
    putErrors: [400, 401, 403, 422],
  });
  registerList(registry, 'users', '/api/v1/users', userView);
  registerList(registry, 'teams', '/api/v1/teams', teamView);

  const params = idParam(tenantIdSchema, 'the tenant id');
  registry.registerPath({
    method: 'get',
    path: '/api/v1/tenants/{id}/branding',
    operationId: 'getBranding',
    tags: ['directory'],
    summary: 'A tenant’s branding',
    security: ADMIN,
    request: { params },
    responses: { 200: json('The stored branding: the fields that are set.', branding), ...errors([401, 403, 404]) },
  });
  registry.registerPath({
    method: 'put',
    path: '/api/v1/tenants/{id}/branding',
    operationId: 'putBranding',
    tags: ['directory'],
    summary: 'Replace a tenant’s branding',
    security: ADMIN,
    request: { params, body: jsonBody(branding) },
    responses: { 200: json('The stored branding: the fields that are set.', branding), ...errors([400, 401, 403, 404]) },
  });
}
