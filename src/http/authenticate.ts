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

/** Browsers cannot set headers on EventSource, hence the cookie and `?access_token=` forms. */
export function presentedCredential(req: Request): string | null {
  const header = req.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim() || null;
  const cookie = readCookie(req.headers.cookie, TOKEN_COOKIE);
  if (cookie) return cookie;
  const query = req.query.access_token;
  return typeof query === 'string' && query !== '' ? query : null;
}

function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return null;
}

export type Authenticator = ReturnType<typeof createAuthenticator>;

export function createAuthenticator(serviceKeys: ServiceKeyStore, verifyUserToken: UserTokenVerifier) {
  async function identify(req: Request): Promise<Principal | null> {
    const credential = presentedCredential(req);
    if (!credential) return null;
    return serviceKeys.authenticate(credential) ?? (await verifyUserToken(credential));
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
