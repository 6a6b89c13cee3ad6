import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { REDACTED_PATHS } from '../../src/logger.ts';
import { startWeb, type Web } from '../../src/http/web.ts';
import { closeQueues, createQueues } from '../../src/queues/catalog.ts';
import { concretePath, registeredRoutes, type RegisteredRoute } from '../helpers/routes.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let url: string;
let web: Web;

beforeAll(async () => {
  env = await createTestEnv({ ADMIN_BASIC_AUTH: 'ops:correct-horse-battery' });
  web = await env.startWeb();
  url = web.url;
  api = apiClient(url);
  await env.startRouter();
  await env.startInapp();
  await seedDirectory(api, 'acme', ['u1']);
});
afterAll(() => env?.cleanup());

describe('/metrics', () => {
  it('serves queue depths, streams, HTTP durations and delivery outcomes in Prometheus format', async () => {
    await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1'] });
    const text = await eventually(async () => {
      const body = await (await fetch(`${url}/metrics`)).text();
      return body.includes('herald_deliveries_total{channel="inapp",state="sent"}') ? body : null;
    });
    expect(text).toContain('herald_queue_jobs{queue="route",state="waiting"}');
    expect(text).toContain('herald_sse_connections');
    expect(text).toMatch(/herald_http_request_duration_seconds_count\{method="POST",route="\/api\/v1\/events",status="202"\} \d+/);
    expect(text).toContain('herald_event_to_delivery_seconds_bucket{le="0.005",channel="inapp"}');
    expect(text).toContain('herald_sse_dropped_frames_total');
  });
});

describe('/admin/queues (Bull Board)', () => {
  /** Every route the board registers, each aimed at the route queue. */
  const boardRoutes = () => registeredRoutes(web.app).filter((r) => r.path.startsWith('/admin/queues'));
  const call = (route: RegisteredRoute, headers: Record<string, string>) =>
    fetch(url + concretePath(route.path), { method: route.method, headers: { ...headers, 'content-type': 'application/json' }, body: route.method === 'GET' ? undefined : '{}' });

  it('answers 401 without credentials and with a wrong password', async () => {
    expect((await fetch(`${url}/admin/queues`)).status).toBe(401);
    const wrong = Buffer.from('ops:nope').toString('base64');
    const res = await fetch(`${url}/admin/queues`, { headers: { authorization: `Basic ${wrong}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic');
  });

  it('refuses a tenant admin’s token, a user and a tenant-scoped key 403 on every board route, and they change nothing', async () => {
    const admin = await env.userToken('acme-admin', ['acme'], 'admin');
    const user = await env.userToken('u1', ['acme']);
    const refused: Record<string, string>[] = [
      { authorization: `Bearer ${admin}` },
      { cookie: `herald_token=${admin}`, origin: url },
      { authorization: `Bearer ${user}` },
      { authorization: `Bearer ${ACME_KEY}` },
    ];
    const routes = boardRoutes();
    expect(routes.map((r) => `${r.method} ${r.path}`)).toEqual(expect.arrayContaining(['PUT /admin/queues/api/queues/:queueName/pause', 'PUT /admin/queues/api/queues/:queueName/obliterate', 'POST /admin/queues/api/queues/:queueName/add']));
    for (const headers of refused) {
      for (const route of routes) expect((await call(route, headers)).status, `${route.method} ${route.path} with ${Object.keys(headers)}`).toBe(403);
    }
    const queues = createQueues(env.redis, env.config.REDIS_PREFIX);
    try {
      expect(await queues.route.isPaused()).toBe(false);
    } finally {
      await closeQueues(queues);
    }
  });

  it('shows every Herald queue to the operator password and a service key for every tenant', async () => {
    const basic = Buffer.from('ops:correct-horse-battery').toString('base64');
    for (const headers of [{ authorization: `Bearer ${SERVICE_KEY}` }, { authorization: `Basic ${basic}` }]) {
      const page = await fetch(`${url}/admin/queues`, { headers });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const queues = await fetch(`${url}/admin/queues/api/queues`, { headers });
      const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
      expect(names).toEqual(['chat', 'email', 'inapp', 'push', 'route', 'webhook', 'webhook-group']);
    }
  });
});

describe('/readyz', () => {
  it('reports Postgres and Redis separately', async () => {
    const ready = await api.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ postgres: 'ok', redis: 'ok' });
    const noRedis = await env.startWeb({ REDIS_URL: 'redis://127.0.0.1:1' });
    const down = await apiClient(noRedis.url).get('/readyz');
    expect(down.status).toBe(503);
    // Which one is down, and nothing of the driver's error: it is a public route.
    expect(down.body).toEqual({ status: 'unavailable', checks: { postgres: 'ok', redis: 'down' } });
    const noPostgres = await env.startWeb({ DATABASE_URL: 'postgres://herald-secret-user:hunter2@127.0.0.1:1/secretdb' });
    const pgDown = await apiClient(noPostgres.url).get('/readyz');
    expect(pgDown.status).toBe(503);
    expect(pgDown.body).toEqual({ status: 'unavailable', checks: { postgres: 'down', redis: 'ok' } });
  });
});

describe('request logs', () => {
  it('never contain tokens, cookies, service keys or ?access_token=', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    // Successful requests are logged at debug (intake would otherwise write a line per event).
    const web = await startWeb(env.config, pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink), 0);
    const token = await env.userToken('u1', ['acme']);
    try {
      await fetch(`${web.url}/api/v1/notifications?access_token=${token}`);
      await fetch(`${web.url}/api/v1/notifications`, { headers: { authorization: `Bearer ${token}`, cookie: `herald_token=${token}` } });
      await fetch(`${web.url}/api/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' }, body: '{}' });
    } finally {
      await web.close();
    }
    const all = lines.join('');
    expect(all).toContain('/api/v1/notifications?access_token=[redacted]');
    expect(all).toContain('"statusCode":400');
    expect(all).not.toContain(token);
    expect(all).not.toContain(SERVICE_KEY);
  });
});
