import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isAdmin, type Principal } from '../auth/principal.ts';
import type { ServiceKeyStore } from '../auth/serviceKeys.ts';
import type { UserTokenVerifier } from '../auth/userTokens.ts';
import { forbidden, unauthorized } from '../errors.ts';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      principal?: Principal;
    }
  }
}

export const TOKEN_COOKIE = 'herald_token';

/** Where a request's credential came from: only the cookie is sent by the browser on its own. */
export type PresentedCredential = { value: string; via: 'header' | 'cookie' | 'query' };

/** Browsers cannot set headers on EventSource, hence the cookie and `?access_token=` forms. */
export function presentedCredential(req: Request): PresentedCredential | null {
  const header = req.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) {
    const value = header.slice(7).trim();
    return value ? { value, via: 'header' } : null;
  }
  const cookie = readCookie(req.headers.cookie, TOKEN_COOKIE);
  if (cookie) return { value: cookie, via: 'cookie' };
  const query = req.query.access_token;
  return typeof query === 'string' && query !== '' ? { value: query, via: 'query' } : null;
}

/** A cookie's value; null when absent, or when its percent-encoding is broken (then it holds no token: 401, not 500). */
function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * SPEC §7.1: whether a request comes from a page of this API's own origin. The browser attaches
 * the cookie to requests from any site, so a state-changing request it authenticates must say
 * where it came from: `Sec-Fetch-Site: same-origin`, or an `Origin` whose host is the one the
 * request was sent to (the host alone, so a proxy terminating TLS does not make every origin
 * look foreign). Neither header is refused too: a browser sends at least one of them.
 */
export function isSameOrigin(req: Request): boolean {
  if (req.headers['sec-fetch-site'] === 'same-origin') return true;
  const origin = req.headers.origin;
  if (!origin || !req.headers.host) return false;
  try {
    return new URL(origin).host === req.headers.host.toLowerCase();
  } catch {
    return false;
  }
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

export function createAuthenticator(serviceKeys: ServiceKeyStore, verifyUserToken: UserTokenVerifier) {
  /**
   * Who is calling, or null. A state-changing request authenticated by the cookie from another
   * origin is refused (403) rather than treated as anonymous, so the page can tell why.
   */
  async function identify(req: Request): Promise<Principal | null> {
    const credential = presentedCredential(req);
    if (!credential) return null;
    if (credential.via === 'cookie' && !SAFE_METHODS.has(req.method) && !isSameOrigin(req)) {
      throw forbidden('a request authenticated by the herald_token cookie must come from this site (Origin or Sec-Fetch-Site)');
    }
    return serviceKeys.authenticate(credential.value) ?? (await verifyUserToken(credential.value));
  }

  function guard(check: (p: Principal) => 'ok' | 'forbidden' | 'unauthorized'): RequestHandler {
    return async (req: Request, _res: Response, next: NextFunction) => {
      const principal = await identify(req);
      if (!principal) return next(unauthorized());
      const verdict = check(principal);
      if (verdict === 'unauthorized') return next(unauthorized());
      if (verdict === 'forbidden') return next(forbidden('this credential may not use this endpoint'));
      req.principal = principal;
      next();
    };
  }

  return {
    identify,
    /** Publishing: service keys only. */
    service: guard((p) => (p.kind === 'service' ? 'ok' : 'forbidden')),
    /** Admin API: a service key or an admin user token, both scoped to their tenants. */
    admin: guard((p) => (isAdmin(p) ? 'ok' : 'forbidden')),
    /** A signed-in person: the inbox, preferences, the live stream. */
    user: guard((p) => (p.kind === 'user' ? 'ok' : 'unauthorized')),
  };
}

/** The principal of a request that passed one of the guards. */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw unauthorized();
  return req.principal;
}

export function userOf(req: Request): Extract<Principal, { kind: 'user' }> {
  const p = principalOf(req);
  if (p.kind !== 'user') throw unauthorized();
  return p;
}
