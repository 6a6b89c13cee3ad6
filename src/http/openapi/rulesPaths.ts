import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { entityIdSchema } from '../../intake/eventEnvelope.ts';
import { tenantIdSchema } from '../../intake/eventEnvelope.ts';
import { generatedIdSchema } from '../params.ts';
import { z } from 'zod';
import { eventTimelineQuery } from '../routes/deliveries.ts';
import { ruleBodies, ruleListQuery } from '../routes/rules.ts';
import { ADMIN, DOCUMENTED_ALLOW_HOSTS, errors, idParam, json, jsonBody } from './common.ts';
import { createdRuleView, deliveryView, listOf, packInstallView, retryView, rulePackView, ruleView } from './responses.ts';

/** SPEC §3 and §7: routing rules, and what routing did with an event (its delivery timeline). */
export function registerRulesPaths(registry: OpenAPIRegistry): void {
  const bodies = ruleBodies(DOCUMENTED_ALLOW_HOSTS);
  const params = idParam(generatedIdSchema, 'the rule id');
  const duplicate = { 409: 'An enabled rule of the tenant has the same event type, channels, severity filter and recipients.' };

  registry.registerPath({
    method: 'post',
    path: '/api/v1/rules',
    operationId: 'createRule',
    tags: ['rules'],
    summary: 'Create a routing rule',
    description:
      'A v1 body (one `channel`) is still valid. `eventType` is an exact type or a pattern with `*`; `recipients` picks who the rule reaches; `priority` raises what it produces; `content` (Handlebars) sets the title, body and url of its in-app rows, pushes and chat posts and is checked here (400 naming the line of a syntax error, 422 `template_too_expensive`); `delivery` sets fallback and digest. A webhook rule needs `webhookUrl` and gets a signing secret, shown in this answer only.',
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
    path: '/api/v1/rule-packs',
    operationId: 'listRulePacks',
    tags: ['rules'],
    summary: 'The rule packs a tenant can install',
    security: ADMIN,
    responses: { 200: json('Every pack.', listOf(rulePackView)), ...errors([401, 403]) },
  });
  registry.registerPath({
    method: 'post',
    path: '/api/v1/tenants/{id}/rule-packs/{packId}',
    operationId: 'installRulePack',
    tags: ['rules'],
    summary: 'Install a rule pack for a tenant',
    description: 'Idempotent: rules the tenant already has are skipped. The pack’s email templates become global defaults where none is set.',
    security: ADMIN,
    request: { params: z.object({ id: tenantIdSchema.meta({ description: 'the tenant id' }), packId: z.string().meta({ description: 'the pack id, e.g. `platform`' }) }) },
    responses: { 200: json('What the install added.', packInstallView), ...errors([401, 403, 404], { 404: 'No such tenant or pack.' }) },
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
