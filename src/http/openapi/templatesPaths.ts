import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { generatedIdSchema } from '../params.ts';
import { templateCreateBody, templateListQuery, templatePreviewBody, templateTestSendBody, templateVersionBody } from '../routes/templates.ts';
import { ADMIN, errors, idParam, json, jsonBody } from './common.ts';
import { listOf, renderedView, templateView, testSendView } from './responses.ts';

const SYNTAX_ERRORS = { 400: 'Invalid input, or a template that does not compile: `details` names the field and the line.' };
const TOO_EXPENSIVE =
  'Code `template_too_expensive`: the template (`details` names the field) went past the render budget — 100 ms of CPU time, 100,000 loop iterations or partials, 1 MiB of output — or has more than 1,000 `{{…}}` in one field. Save renders once with the event type’s sample data.';
const GLOBAL_NEEDS_ALL = { 403: 'Outside the caller’s tenants; changing a global default (tenantId null) needs a credential for every tenant.' };

/** SPEC §7: versioned Handlebars templates, previews and test-sends. */
export function registerTemplatesPaths(registry: OpenAPIRegistry): void {
  const params = idParam(generatedIdSchema, 'the template id');

  registry.registerPath({
    method: 'get',
    path: '/api/v1/templates',
    operationId: 'listTemplates',
    tags: ['templates'],
    summary: 'List the active templates the caller may see',
    security: ADMIN,
    request: { query: templateListQuery },
    responses: { 200: json('The templates.', listOf(templateView)), ...errors([400, 401, 403]) },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/templates',
    operationId: 'createTemplate',
    tags: ['templates'],
    summary: 'Create a template (version 1, active)',
    description: 'Email templates take subject/html/text; in-app, push and chat templates take title/body. Templates see `event.*`, `data.*`, `user.*` and `brand.*`.',
    security: ADMIN,
    request: { body: jsonBody(templateCreateBody) },
    responses: {
      201: json('The stored template.', templateView),
      ...errors([400, 401, 403, 409, 422], {
        ...SYNTAX_ERRORS,
        ...GLOBAL_NEEDS_ALL,
        409: 'This tenant, event type and channel already has a template: add a version to it (details name its id).',
        422: `The tenant does not exist (code \`unknown_tenant\`), or ${TOO_EXPENSIVE}`,
      }),
    },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/templates/{id}',
    operationId: 'getTemplate',
    tags: ['templates'],
    summary: 'One template, its active version',
    security: ADMIN,
    request: { params },
    responses: { 200: json('The template.', templateView), ...errors([401, 403, 404]) },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/templates/{id}/versions',
    operationId: 'listTemplateVersions',
    tags: ['templates'],
    summary: 'Every version of a template',
    security: ADMIN,
    request: { params },
    responses: { 200: json('The versions.', listOf(templateView)), ...errors([401, 403, 404]) },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/templates/{id}/versions',
    operationId: 'addTemplateVersion',
    tags: ['templates'],
    summary: 'Add a version, which becomes the active one',
    security: ADMIN,
    request: { params, body: jsonBody(templateVersionBody) },
    responses: { 201: json('The new version.', templateView), ...errors([400, 401, 403, 404, 422], { ...SYNTAX_ERRORS, ...GLOBAL_NEEDS_ALL, 422: TOO_EXPENSIVE }) },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/templates/preview',
    operationId: 'previewTemplate',
    tags: ['templates'],
    summary: 'Render a stored or unsaved template with sample data',
    security: ADMIN,
    request: { body: jsonBody(templatePreviewBody) },
    responses: { 200: json('The rendered content.', renderedView), ...errors([400, 401, 403, 422], { ...SYNTAX_ERRORS, 422: TOO_EXPENSIVE }) },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/templates/{id}/test-send',
    operationId: 'testSendTemplate',
    tags: ['templates'],
    summary: 'Send an email template to one address',
    security: ADMIN,
    request: { params, body: jsonBody(templateTestSendBody) },
    responses: {
      202: json('Handed to the SMTP relay.', testSendView),
      ...errors([400, 401, 403, 404, 422, 429, 502, 503], {
        422: `The relay refused the message (code \`email_rejected\`), or ${TOO_EXPENSIVE}`,
        429: 'Over 10 test-sends of this tenant in the last 60 s, counted across every API instance (code `rate_limited`); retry after `Retry-After` seconds.',
        503: 'The test-send count cannot be read (Redis is unavailable; code `unavailable`); nothing was sent.',
      }),
    },
  });
}
