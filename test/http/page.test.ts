import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../../src/demo/demoDirectory.ts';
import type { Web } from '../../src/http/web.ts';
import { apiClient, eventually } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let plain: Web;
let demo: Web;

beforeAll(async () => {
  env = await createTestEnv();
  plain = await env.startWeb();
  demo = await env.startWeb({ HERALD_DEMO: true });
  await env.startRouter();
  await env.startInapp();
  await seedDemo(env.db);
});
afterAll(async () => {
  await env?.cleanup();
});

/** The boot data the page renders into itself. */
function bootOf(html: string): { demo: boolean; user: { id: string; name: string; tenants: string[] } | null } {
  const match = /<script id="boot" type="application\/json">(.*?)<\/script>/s.exec(html);
  if (!match) throw new Error('no boot data in the page');
  return JSON.parse(match[1]!);
}

function sessionCookie(res: Response): string {
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('herald_token='));
  if (!cookie) throw new Error('no herald_token cookie set');
  return cookie;
}

describe('the bell page', () => {
  it('serves the page at / without caching, signed out when there is no session', async () => {
    const res = await fetch(`${plain.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/bell.js"></script>');
    expect(html).toContain('href="/bell.css"');
    expect(bootOf(html)).toEqual({ demo: false, user: null });
  });

  it('renders the signed-in user from the herald_token cookie, with the name from the directory', async () => {
    const token = await env.userToken('alice', ['demo']);
    const html = await (await fetch(`${plain.url}/`, { headers: { cookie: `herald_token=${token}` } })).text();
    expect(bootOf(html).user).toEqual({ id: 'alice', name: 'Alice Analyst', email: 'alice@demo.example', role: 'user', tenants: ['demo'] });
  });

  it('keeps data from closing the boot script element', async () => {
    await env.db.$client`insert into users (id, email, name, tenant_ids) values ('mallory', 'm@demo.example', '</script><script>alert(1)</script>', '{demo}')`;
    const html = await (await fetch(`${plain.url}/`, { headers: { cookie: `herald_token=${await env.userToken('mallory', ['demo'])}` } })).text();
    expect(html).not.toContain('<script>alert(1)');
    expect(bootOf(html).user?.name).toBe('</script><script>alert(1)</script>');
  });

  it('serves the bundled script and the styles', async () => {
    const js = await fetch(`${plain.url}/bell.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const source = await js.text();
    expect(source.length).toBeGreaterThan(2_000);
    // Bundled: no import of the TypeScript sources is left for the browser to resolve.
    expect(source).not.toMatch(/from\s*["'][^"']*\.ts["']/);
    expect(source).toContain('/api/v1/events');

    const css = await fetch(`${plain.url}/bell.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
    expect(await css.text()).toContain('.badge');
  });

  it('serves the push service worker at /sw.js, allowed to control the whole site', async () => {
    const res = await fetch(`${plain.url}/sw.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(res.headers.get('service-worker-allowed')).toBe('/');
    // The worker itself, as the browser will run it: it shows pushes and opens their link on a click.
    const source = await res.text();
    expect(source).toContain("self.addEventListener('push'");
    expect(source).toContain("self.addEventListener('notificationclick'");
  });
});

describe('demo mode', () => {
  it('has no demo routes when HERALD_DEMO is off', async () => {
    const api = apiClient(plain.url, '');
    expect((await api.get('/demo/users', null)).status).toBe(404);
    expect((await api.post('/demo/session', { userId: 'alice' }, null)).status).toBe(404);
    expect((await api.post('/demo/publish', {}, null)).status).toBe(404);
    const res = await fetch(`${plain.url}/demo/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"alice"}' });
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it('listens on loopback only, so no other machine can sign in as a demo person', async () => {
    const port = (url: string) => Number(new URL(url).port);
    expect(demo.server.address()).toMatchObject({ address: '127.0.0.1' });
    expect(plain.server.address()).toMatchObject({ address: '0.0.0.0' });
    // Through this machine's own network address, as another machine would come: refused.
    const external = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
    if (!external) return;
    const signIn = (base: string) => fetch(`${base}/demo/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"alice"}' });
    await expect(signIn(`http://${external.address}:${port(demo.url)}`)).rejects.toThrow();
    expect((await signIn(`http://${external.address}:${port(plain.url)}`)).status).toBe(404);
  });

  it('says so in the page when it is on', async () => {
    expect(bootOf(await (await fetch(`${demo.url}/`)).text()).demo).toBe(true);
  });

  it('lists the demo users', async () => {
    const { status, body } = await apiClient(demo.url).get('/demo/users', null);
    expect(status).toBe(200);
    expect(body.items.map((u: { id: string }) => u.id)).toEqual(['alice', 'bob', 'carol']);
    expect(body.items[0]).toEqual({ id: 'alice', name: 'Alice Analyst', email: 'alice@demo.example', role: 'admin' });
  });

  it('signs in as a demo user with an HttpOnly, SameSite=Lax session cookie that the API accepts', async () => {
    const res = await fetch(`${demo.url}/demo/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'bob' }) });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.user).toEqual({ id: 'bob', name: 'Bob Builder', email: 'bob@demo.example', role: 'user', tenants: ['demo'] });
    const cookie = sessionCookie(res);
    expect(cookie).toContain(`herald_token=${body.token}`);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Lax/i);
    expect(cookie).toMatch(/; Path=\//i);

    const summary = await fetch(`${demo.url}/api/v1/notifications/summary`, { headers: { cookie: `herald_token=${body.token}` } });
    expect(summary.status).toBe(200);
    const html = await (await fetch(`${demo.url}/`, { headers: { cookie: `herald_token=${body.token}` } })).text();
    expect(bootOf(html).user?.id).toBe('bob');
  });

  it('refuses anyone who is not a demo user', async () => {
    const { status, body } = await apiClient(demo.url).post('/demo/session', { userId: 'mallory' }, null);
    expect(status).toBe(400);
    expect(body.error.details[0].field).toBe('userId');
  });

  it('publishes a sample event to the signed-in demo user through the real intake', async () => {
    const { body: session } = await apiClient(demo.url).post('/demo/session', { userId: 'carol' }, null);
    const res = await fetch(`${demo.url}/demo/publish`, {
      method: 'POST',
      // As the page sends it: same-origin fetch, so the browser adds Origin (SPEC §7.1).
      headers: { 'content-type': 'application/json', cookie: `herald_token=${session.token}`, origin: demo.url },
      body: JSON.stringify({ type: 'sla_breached' }),
    });
    expect(res.status).toBe(202);
    const published = await res.json();
    expect(published).toEqual({ id: expect.stringMatching(/^evt_/), status: 'accepted' });

    const carol = apiClient(demo.url, session.token);
    const inbox = await eventually(async () => {
      const { body } = await carol.get('/api/v1/notifications');
      return body.items.length === 1 ? body.items : null;
    });
    expect(inbox[0]).toMatchObject({ eventId: published.id, type: 'sla_breached', tenantId: 'demo', severity: 'urgent', readAt: null });
    expect(inbox[0].title).toContain('SLA breached');
    expect(inbox[0].url).toMatch(/^https:\/\//);
  });

  it('publishes to the named demo users, with a severity of the caller’s choosing', async () => {
    const api = apiClient(demo.url);
    const { status, body } = await api.post('/demo/publish', { type: 'finding_created', severity: 'critical', assigneeUserIds: ['alice', 'bob'] }, null);
    expect(status).toBe(202);
    for (const userId of ['alice', 'bob']) {
      const token = await env.userToken(userId, ['demo']);
      await eventually(async () => (await api.get('/api/v1/notifications', token)).body.items.find((n: { eventId: string; severity: string }) => n.eventId === body.id && n.severity === 'critical'));
    }
    expect((await api.post('/demo/publish', { severity: 'dire' }, null)).status).toBe(400);
    expect((await api.post('/demo/publish', { type: 'nonsense' }, null)).body.error.details[0].field).toBe('type');
  });
});
