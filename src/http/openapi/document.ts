import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { registerSecuritySchemes } from './common.ts';
import { registerDirectoryPaths } from './directoryPaths.ts';
import { registerInboxPaths } from './inboxPaths.ts';
import { registerOperationsPaths } from './operationsPaths.ts';
import { registerPublishingPaths } from './publishingPaths.ts';
import { registerRulesPaths } from './rulesPaths.ts';
import { registerTemplatesPaths } from './templatesPaths.ts';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

/** Each tag of the document, in order, and what its operations are for. */
const TAGS: Record<string, string> = {
  publishing: 'Services publish events (service key).',
  inbox: 'A signed-in user’s inbox, live stream, preferences and Web Push devices (user token).',
  directory: 'Tenants, branding, users and teams (service key or admin token, scoped to its tenants).',
  rules: 'Routing rules (patterns, recipients, priority, content, timed delivery) and rule packs.',
  templates: 'Versioned Handlebars templates, previews and test-sends.',
  deliveries: 'What happened to each delivery of an event, and manual retry.',
  operations: 'Probes, metrics and this document.',
};

/** The API as OpenAPI 3.1, its request schemas the very zod schemas the routes validate with. */
export function buildOpenApiDocument(): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registerSecuritySchemes(registry);
  registerPublishingPaths(registry);
  registerInboxPaths(registry);
  registerDirectoryPaths(registry);
  registerRulesPaths(registry);
  registerTemplatesPaths(registry);
  registerOperationsPaths(registry);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Herald',
      version: 'v1',
      description:
        'Herald turns platform events into delivered notifications. Every error is `{"error": {"code", "message", "details"}}`. ' +
        'Semantics beyond paths and fields (routing, delivery, frames, configuration) are in the repository’s docs/ folder.',
    },
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
  });
}

let built: OpenApiDocument | undefined;

/** Built on first request, not at start: nothing in it changes while the process runs. */
export function openApiDocument(): OpenApiDocument {
  built ??= buildOpenApiDocument();
  return built;
}
