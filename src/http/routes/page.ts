import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eq } from 'drizzle-orm';
import { build } from 'esbuild';
import { Router, type Request, type Response } from 'express';
import type { Db } from '../../db/client.ts';
import { users } from '../../db/schema.ts';
import type { Logger } from '../../logger.ts';
import type { Authenticator } from '../authenticate.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const WEB_DIR = join(ROOT, 'web');
const SERVICE_WORKER = join(ROOT, 'src/push/serviceWorker.js');

/** The signed-in person as the page shows them (also what a demo sign-in answers). */
export type PageUser = { id: string; name: string; email: string | null; role: 'user' | 'admin'; tenants: string[] };

export type PageDeps = { auth: Authenticator; db: Db; logger: Logger; demoMode: boolean };

/**
 * The page is fixed per process, and esbuild takes tens of milliseconds: build the script once,
 * in memory, shared by every app in the process. There is no build step to forget, and a
 * broken bundle shows at start, not at the first visitor.
 */
let bundled: Promise<string> | undefined;
function bellScript(): Promise<string> {
  bundled ??= build({
    entryPoints: [join(WEB_DIR, 'bell.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome111', 'firefox113', 'safari16.4'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  }).then((result) => result.outputFiles[0]!.text);
  return bundled;
}

// Strict, because the page renders text from event data: nothing inline may run, nothing remote may load.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The bell page (`/`), its script and styles, and the Web Push service worker at `/sw.js`. */
export function pageRouter(deps: PageDeps): Router {
  const router = Router();
  const html = readFileSync(join(WEB_DIR, 'index.html'), 'utf8');
  const css = readFileSync(join(WEB_DIR, 'bell.css'), 'utf8');
  const script = bellScript();
  script.catch((err: unknown) => deps.logger.error({ err }, 'cannot bundle the bell page script (web/bell.ts)'));

  async function signedInUser(req: Request): Promise<PageUser | null> {
    const principal = await deps.auth.identify(req);
    if (principal?.kind !== 'user') return null;
    const [row] = await deps.db.select({ name: users.name, email: users.email }).from(users).where(eq(users.id, principal.userId));
    return {
      id: principal.userId,
      name: row?.name ?? principal.userId,
      email: row?.email ?? null,
      role: principal.role,
      tenants: principal.tenants.all ? [] : [...principal.tenants.ids],
    };
  }

  router.get('/', async (req, res) => {
    const boot = { demo: deps.demoMode, user: await signedInUser(req) };
    // `<` escaped so nothing in the data can close the script element.
    const json = JSON.stringify(boot).replace(/</g, '\\u003c');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.type('html').send(html.replace('<!--BOOT-->', `<script id="boot" type="application/json">${json}</script>`));
  });

  router.get('/bell.js', async (_req, res) => {
    sendAsset(res, 'text/javascript; charset=utf-8', await script);
  });

  router.get('/bell.css', (_req, res) => {
    sendAsset(res, 'text/css; charset=utf-8', css);
  });

  // Read when asked: the worker script is optional, and served at the root so it may control the whole page.
  router.get('/sw.js', async (_req, res, next) => {
    let source: string;
    try {
      source = await readFile(SERVICE_WORKER, 'utf8');
    } catch {
      return next();
    }
    res.setHeader('Service-Worker-Allowed', '/');
    sendAsset(res, 'text/javascript; charset=utf-8', source);
  });

  return router;
}

function sendAsset(res: Response, contentType: string, body: string): void {
  // Revalidated on each load (Express adds an ETag), so a restart with a new page is picked up at once.
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.type(contentType).send(body);
}
