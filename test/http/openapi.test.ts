import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

type SchemaObject = {
  $ref?: string;
  type?: string | string[];
  required?: string[];
  properties?: Record<string, SchemaObject>;
  items?: SchemaObject;
  minItems?: number;
  maxItems?: number;
  maxLength?: number;
};
type Operation = {
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema: SchemaObject }> };
  responses: Record<string, { content?: Record<string, { schema: SchemaObject }> }>;
};
type Document = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, SchemaObject>; securitySchemes: Record<string, unknown> };
};

let env: TestEnv;
let api: ApiClient;
let app: Express;
let doc: Document;

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  app = web.app;
  api = apiClient(web.url);
  const res = await fetch(`${web.url}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
});
afterAll(() => env?.cleanup());

type Layer = { route?: { path: string | string[]; methods: Record<string, boolean> }; slash?: boolean; handle: { stack?: Layer[] } };

/** Every (method, path) the app routes. Routers mounted at '/' hold full paths; one mounted elsewhere (Bull Board) is not part of the API. */
function registeredRoutes(stack: Layer[]): { method: string; path: string }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = [layer.route.path].flat();
      return Object.keys(layer.route.methods).flatMap((method) => paths.map((path) => ({ method, path })));
    }
    if (layer.slash && layer.handle.stack) return registeredRoutes(layer.handle.stack);
    return [];
  });
}

/** Every value under `key`, anywhere in a JSON value. */
function valuesOf(value: unknown, key: string): unknown[] {
  if (Array.isArray(value)) return value.flatMap((item) => valuesOf(item, key));
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => (k === key && typeof v === 'string' ? [v] : valuesOf(v, key)));
}

const inContract = (path: string) => path.startsWith('/api/v1/') || ['/healthz', '/readyz', '/metrics'].includes(path);
const openApiPath = (expressPath: string) => expressPath.replace(/:(\w+)/g, '{$1}');
const resolve = (schema: SchemaObject): SchemaObject => (schema.$ref ? doc.components.schemas[schema.$ref.split('/').pop()!]! : schema);
const requestSchema = (path: string, method: string) => resolve(doc.paths[path]![method]!.requestBody!.content['application/json']!.schema);

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document, served without credentials', () => {
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(doc.info.title).toBe('Herald');
    expect(Object.keys(doc.paths).length).toBeGreaterThan(20);
    expect(Object.keys(doc.components.securitySchemes)).toEqual(expect.arrayContaining(['serviceKey', 'userToken']));
  });

  it('documents every route the app registers under /api/v1, and the probes and metrics', () => {
    const routes = registeredRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack);
    // The walk must really have reached the routers, or the check below would pass on nothing.
    expect(routes).toContainEqual({ method: 'post', path: '/api/v1/events' });
    expect(routes).toContainEqual({ method: 'get', path: '/' });

    const missing = routes
      .filter((route) => inContract(route.path))
      .filter((route) => !doc.paths[openApiPath(route.path)]?.[route.method])
      .map((route) => `${route.method.toUpperCase()} ${route.path}`);
    expect(missing, `routes missing from the OpenAPI document: ${missing.join(', ')}`).toEqual([]);
  });

  it('documents no route the app does not have', () => {
    const registered = new Set(registeredRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack).map((r) => `${r.method} ${openApiPath(r.path)}`));
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`));
    expect(documented.filter((operation) => !registered.has(operation))).toEqual([]);
  });

  it('describes the event body with the schema the intake validates with', () => {
    const envelope = requestSchema('/api/v1/events', 'post');
    expect(envelope.required).toEqual(expect.arrayContaining(['type', 'tenantId']));
    expect(envelope.required).not.toContain('id');
    expect(envelope.properties?.id?.maxLength).toBe(200);
    const batch = requestSchema('/api/v1/events/batch', 'post').properties!.events!;
    expect([batch.minItems, batch.maxItems]).toEqual([1, 1000]);
    expect(batch.items?.$ref).toBe('#/components/schemas/EventEnvelope');
  });

  it('carries every pattern as a plain regular expression', () => {
    const patterns = valuesOf(doc, 'pattern') as string[];
    expect(patterns.length).toBeGreaterThan(0);
    for (const pattern of patterns) {
      expect(() => new RegExp(pattern, 'u'), pattern).not.toThrow();
      // A flag left over from the source regex (`…$/u`) would make the pattern match nothing.
      expect(pattern).not.toMatch(/\/[a-z]+$/);
    }
  });

  it('states limits the API really enforces', async () => {
    const max = requestSchema('/api/v1/tenants/{id}', 'put').properties!.name!.maxLength!;
    expect(max).toBeGreaterThan(0);
    expect((await api.put('/api/v1/tenants/limits', { name: 'x'.repeat(max) })).status).toBe(201);
    const over = await api.put('/api/v1/tenants/limits', { name: 'x'.repeat(max + 1) });
    expect(over.status).toBe(400);
    expect(over.body.error.details[0].field).toBe('name');
  });

  it('names who may call each operation, and one error shape for failures', () => {
    expect(doc.paths['/api/v1/events']!.post!.security).toEqual([{ serviceKey: [] }]);
    expect(doc.paths['/api/v1/notifications']!.get!.security).toContainEqual({ userToken: [] });
    expect(doc.paths['/api/v1/rules']!.post!.security).toEqual([{ serviceKey: [] }, { userToken: [] }]);
    expect(doc.paths['/api/v1/push/vapid-public-key']!.get!.security).toEqual([]);
    const error = doc.paths['/api/v1/rules']!.post!.responses['409']!.content!['application/json']!.schema;
    expect(error.$ref).toBe('#/components/schemas/Error');
    expect(resolve(error).properties!.error!.required).toEqual(['code', 'message', 'details']);
  });
});
