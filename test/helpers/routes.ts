import type { Express } from 'express';

export type RegisteredRoute = { method: string; path: string };

type RouterLayer = {
  route?: { path: unknown; methods: Record<string, boolean> };
  rawPath?: unknown;
  handle?: { stack?: RouterLayer[]; router?: { stack?: RouterLayer[] } };
};

/** Every method × path the app registers, nested routers and mounted apps (the queue board) included. */
export function registeredRoutes(app: Express): RegisteredRoute[] {
  const found: RegisteredRoute[] = [];
  const walk = (stack: RouterLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = [layer.route.path].flat().map(String);
        for (const method of Object.keys(layer.route.methods)) {
          if (method !== '_all') for (const path of paths) found.push({ method: method.toUpperCase(), path: prefix + path });
        }
        continue;
      }
      // A Router has its stack; a mounted Express app has it on its router.
      const inner = layer.handle?.stack ?? layer.handle?.router?.stack;
      if (Array.isArray(inner)) walk(inner, prefix + (layer.rawPath === '/' || typeof layer.rawPath !== 'string' ? '' : layer.rawPath));
    }
  };
  walk((app as unknown as { router: { stack: RouterLayer[] } }).router.stack, '');
  return found;
}

/** A concrete path for a registered one: every `:param` filled in (`:queueName` with a real queue). */
export const concretePath = (path: string, queueName = 'route') => path.replace(/:queueName/g, queueName).replace(/:(\w+)/g, 'x');
