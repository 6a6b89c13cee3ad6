import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedDirectory } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let url: string;
let shortLived: string;

const HOUR = 3_600;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  env = await createTestEnv();
  url = (await env.startWeb()).url;
  shortLived = (await env.startWeb({ JWT_MAX_AGE_SECONDS: 60 })).url;
  await seedDirectory(apiClient(url), 'acme', ['u1']);
});
afterAll(() => env?.cleanup());

/** A token signed with the deployment's secret, with exactly the time claims given. */
function token(times: { iat?: number; exp?: number }): Promise<string> {
  return new SignJWT({ tenants: ['acme'], role: 'user', ...times }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(new TextEncoder().encode(env.config.JWT_SECRET));
}

/** The status the inbox answers a token with, as a header and as the cookie. */
async function statuses(base: string, jwt: string): Promise<number[]> {
  const bearer = await fetch(`${base}/api/v1/notifications/summary`, { headers: { authorization: `Bearer ${jwt}` } });
  const cookie = await fetch(`${base}/api/v1/notifications/summary`, { headers: { cookie: `herald_token=${jwt}` } });
  return [bearer.status, cookie.status];
}

describe('user token lifetime (SPEC §7.1)', () => {
  it('accepts a token with exp within the maximum age, with or without iat', async () => {
    expect(await statuses(url, await token({ iat: now(), exp: now() + HOUR }))).toEqual([200, 200]);
    expect(await statuses(url, await token({ exp: now() + HOUR }))).toEqual([200, 200]);
    expect(await statuses(url, await token({ iat: now() - 23 * HOUR, exp: now() + HOUR }))).toEqual([200, 200]);
  });

  it('refuses a token without exp, however fresh', async () => {
    expect(await statuses(url, await token({ iat: now() }))).toEqual([401, 401]);
    expect(await statuses(url, await token({}))).toEqual([401, 401]);
  });

  it('refuses a token issued more than JWT_MAX_AGE_SECONDS ago (default a day), even when exp lies far ahead', async () => {
    expect(await statuses(url, await token({ iat: now() - 25 * HOUR, exp: now() + 365 * 24 * HOUR }))).toEqual([401, 401]);
    expect(await statuses(shortLived, await token({ iat: now() - 120, exp: now() + HOUR }))).toEqual([401, 401]);
    expect(await statuses(shortLived, await token({ iat: now() - 10, exp: now() + 50 }))).toEqual([200, 200]);
  });

  it('refuses a token without iat whose exp lies further ahead than the maximum age', async () => {
    expect(await statuses(url, await token({ exp: now() + 10 * 365 * 24 * HOUR }))).toEqual([401, 401]);
    expect(await statuses(shortLived, await token({ exp: now() + HOUR }))).toEqual([401, 401]);
  });

  it('refuses an iat in the future, which would keep a token young for ever', async () => {
    expect(await statuses(url, await token({ iat: now() + 365 * 24 * HOUR, exp: now() + 366 * 24 * HOUR }))).toEqual([401, 401]);
  });

  it('refuses an over-age token on the live stream too', async () => {
    const old = await token({ iat: now() - 25 * HOUR, exp: now() + HOUR });
    const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${old}` } });
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });
});

describe('user token signature', () => {
  const claims = () => ({ tenants: ['acme'], role: 'user', iat: now(), exp: now() + HOUR });

  it('refuses a token signed with another secret, unsigned, or with its claims altered', async () => {
    const otherSecret = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(new TextEncoder().encode(`${env.config.JWT_SECRET}-not`));
    const genuine = await token({ iat: now(), exp: now() + HOUR });
    const [header, , signature] = genuine.split('.');
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims(), sub: 'u1' })}.`;
    const altered = `${header}.${b64({ ...claims(), sub: 'u1', role: 'admin' })}.${signature}`;
    for (const jwt of [otherSecret, unsigned, altered]) expect(await statuses(url, jwt), jwt).toEqual([401, 401]);
    // The same verifier still takes a genuine token after refusing those.
    expect(await statuses(url, genuine)).toEqual([200, 200]);
  });
});

describe('the herald_token cookie', () => {
  it('answers a malformed percent-encoding 401, not 500, and the page signed out', async () => {
    for (const cookie of ['herald_token=%E0%A4%A', 'herald_token=%', 'herald_token=abc%ZZ']) {
      const res = await fetch(`${url}/api/v1/notifications/summary`, { headers: { cookie } });
      expect(res.status, cookie).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      const page = await fetch(`${url}/`, { headers: { cookie } });
      expect(page.status, cookie).toBe(200);
      await page.body?.cancel();
    }
  });
});
