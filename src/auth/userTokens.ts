import { jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import { scopeOf, type Principal } from './principal.ts';

export type UserTokenOptions = { secret: string; issuer?: string; audience?: string };

const claimsSchema = z.object({
  sub: z.string().min(1),
  tenants: z.array(z.string()).default([]),
  role: z.enum(['user', 'admin']).default('user'),
});

/** Verifies HS256 user tokens; `iss`/`aud` are checked only when configured. */
export function createUserTokenVerifier(options: UserTokenOptions) {
  const key = new TextEncoder().encode(options.secret);
  return async function verifyUserToken(token: string): Promise<Extract<Principal, { kind: 'user' }> | null> {
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        ...(options.issuer ? { issuer: options.issuer } : {}),
        ...(options.audience ? { audience: options.audience } : {}),
      });
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) return null;
      // A user token never grants every tenant: "*" is a service-key notion only.
      const tenants = claims.data.tenants.filter((t) => t !== '*');
      return { kind: 'user', userId: claims.data.sub, role: claims.data.role, tenants: scopeOf(tenants) };
    } catch {
      return null;
    }
  };
}

export type UserTokenVerifier = ReturnType<typeof createUserTokenVerifier>;

/** Issues a user token (demo mode, tests, and operators minting tokens from the CLI). */
export async function signUserToken(
  options: UserTokenOptions,
  claims: { sub: string; tenants: string[]; role?: 'user' | 'admin' },
  expiresIn = '12h',
): Promise<string> {
  let jwt = new SignJWT({ tenants: claims.tenants, role: claims.role ?? 'user' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(expiresIn);
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(options.secret));
}
