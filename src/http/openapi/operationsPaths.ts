import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { json, PUBLIC } from './common.ts';
import { healthView, readinessView } from './responses.ts';

export const OPENAPI_PATH = '/api/v1/openapi.json';

/** SPEC §8: probes and metrics, and this document. */
export function registerOperationsPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tags: ['operations'],
    summary: 'Liveness: the process answers',
    security: PUBLIC,
    responses: { 200: json('Alive.', healthView) },
  });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    tags: ['operations'],
    summary: 'Readiness: Postgres and Redis answer, each reported on its own',
    security: PUBLIC,
    responses: { 200: json('Ready.', readinessView), 503: json('Postgres or Redis does not answer.', readinessView) },
  });
  registry.registerPath({
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics of this API process',
    security: PUBLIC,
    responses: { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: z.string() } } } },
  });
  registry.registerPath({
    method: 'get',
    path: OPENAPI_PATH,
    operationId: 'openApiDocument',
    tags: ['operations'],
    summary: 'This OpenAPI 3.1 document',
    security: PUBLIC,
    responses: { 200: json('The document.', z.looseObject({ openapi: z.string() })) },
  });
}
