import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { entityIdSchema } from '../../intake/eventEnvelope.ts';
import { generatedIdSchema } from '../params.ts';
import { eventTimelineQuery } from '../routes/deliveries.ts';
import { ruleBodies, ruleListQuery } from '../routes/rules.ts';
import { ADMIN, DOCUMENTED_ALLOW_HOSTS, errors, idParam, json, jsonBody } from './common.ts';
import { createdRuleView, deliveryView, listOf, retryView, ruleView } from './responses.ts';

/** SPEC §3 and §7: routing rules, and what routing did with an event (its delivery timeline). */
export function registerRulesPaths(registry: OpenAPIRegistry): void {
  const bodies = ruleBodies(DOCUMENTED_ALLOW_HOSTS);
  const params = idParam(generatedIdSchema, 'the rule id');
  const duplicate = { 409: 'A rule for this tenant, event type, channel and severity filter already exists.' };

  registry.registerPath({
    method: 'post',
    path: '/api/v1/rules',
    operationId: 'createRule',
    tags: ['rules'],
    summary: 'Create a routing rule',
    description: 'Email and webhook are rule-driven. A webhook rule needs `webhookUrl` and gets a signing secret, shown in this answer only.',
    security: ADMIN,
    request: { body: jsonBody(bodies.create) },
    responses: { 201: json('The stored rule, with `secret` for a webhook rule.', createdRuleView), ...errors([400, 401, 403, 409, 422], duplicate) },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/rules',
    operationId: 'listRules',
    tags: ['rules'],
    summary: 'List rules in the caller’s tenants',
    security: ADMIN,
    request: { query: ruleListQuery },
    responses: { 200: json('The rules.', listOf(ruleView)), ...errors([400, 401, 403], { 403: 'tenantId is outside the caller’s scope.' }) },
  });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/rules/{id}',
    operationId: 'getRule',
    tags: ['rules'],
    summary: 'One rule',
    security: ADMIN,
    request: { params },
    responses: { 200: json('The rule.', ruleView), ...errors([401, 403, 404]) },
  });
  registry.registerPath({
    method: 'patch',
    path: '/api/v1/rules/{id}',
    operationId: 'updateRule',
    tags: ['rules'],
    summary: 'Change a rule',
    description: '`tenantId` and `channel` cannot change. An absent field is kept; `webhookUrl: null` clears it.',
    security: ADMIN,
    request: { params, body: jsonBody(bodies.patch) },
    responses: { 200: json('The stored rule.', ruleView), ...errors([400, 401, 403, 404, 409], duplicate) },
  });
  registry.registerPath({
    method: 'delete',
    path: '/api/v1/rules/{id}',
    operationId: 'deleteRule',
    tags: ['rules'],
    summary: 'Delete a rule',
    security: ADMIN,
    request: { params },
    responses: { 204: { description: 'Deleted.' }, ...errors([401, 403, 404]) },
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/events/{id}/deliveries',
    operationId: 'listDeliveries',
    tags: ['deliveries'],
    summary: 'An event’s delivery timeline',
    description:
      'Every delivery routing planned for the event, across channels, with every attempt. Event ids are unique within a tenant: when the id names events of several tenants in the caller’s scope, `tenantId` is required.',
    security: ADMIN,
    request: { params: idParam(entityIdSchema, 'the event id'), query: eventTimelineQuery },
    responses: {
      200: json('The timeline, oldest first.', listOf(deliveryView)),
      ...errors([400, 401, 403, 404], { 400: '`tenantId` missing where the id names events of several of the caller’s tenants.', 403: '`tenantId` outside the caller’s scope.' }),
    },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/deliveries/{id}/retry',
    operationId: 'retryDelivery',
    tags: ['deliveries'],
    summary: 'Retry a failed delivery',
    description: 'Email, webhook, Slack, Teams and push deliveries only. A webhook keeps its `webhook-id`.',
    security: ADMIN,
    request: { params: idParam(generatedIdSchema, 'the delivery id') },
    responses: {
      202: json('Queued again.', retryView),
      ...errors([401, 403, 404, 409], { 409: 'The delivery is not failed, or its channel cannot be retried.' }),
    },
  });
}
