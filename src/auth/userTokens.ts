import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { z } from 'zod';
import { scopeOf, type Principal } from './principal.ts';

export type UserTokenOptions = { secret: string; issuer?: string; audience?: string };

const claimsSchema = z.object({
  sub: z.string().min(1),
  tenants: z.array(z.string()).default([]),
  role: z.enum(['user', 'admin']).default('user'),
});

export type UserTokenPolicy = UserTokenOptions & {
  /** JWT_MAX_AGE_SECONDS: the oldest `iat` accepted, and the furthest `exp` of a token without `iat`. */
  maxAgeSeconds: number;
};

// Issuers' clocks differ a little from ours; an `iat` further ahead than this is not believed.
const CLOCK_SKEW_SECONDS = 60;

/**
 * Verifies HS256 user tokens; `iss`/`aud` are checked only when configured. SPEC §7.1: a token
 * must carry `exp`, and none lives longer than `maxAgeSeconds` — judged by `iat` when it has one
 * (an `iat` in the future is refused, or it would keep a token young), else by how far ahead its
 * `exp` lies — so a token leaked once does not work for years.
 */
export function createUserTokenVerifier(policy: UserTokenPolicy) {
  // Imported once: handed the raw bytes, jose imports a WebCrypto key at every verify, which
  // was half of each verify's CPU — and every user request and stream open verifies one.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(policy.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  // A secret WebCrypto refuses (the config requires 32 characters) then fails each verify, not the process.
  key.catch(() => {});
  return async function verifyUserToken(token: string): Promise<Extract<Principal, { kind: 'user' }> | null> {
    try {
      const { payload } = await jwtVerify(token, await key, {
        algorithms: ['HS256'],
        requiredClaims: ['exp'],
        ...(policy.issuer ? { issuer: policy.issuer } : {}),
        ...(policy.audience ? { audience: policy.audience } : {}),
      });
      if (!withinMaxAge(payload, policy.maxAgeSeconds)) return null;
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

function withinMaxAge(payload: JWTPayload, maxAgeSeconds: number, now = Math.floor(Date.now() / 1000)): boolean {
  if (typeof payload.iat === 'number') return payload.iat <= now + CLOCK_SKEW_SECONDS && now - payload.iat <= maxAgeSeconds;
  return typeof payload.exp === 'number' && payload.exp - now <= maxAgeSeconds;
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
