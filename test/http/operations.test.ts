import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { REDACTED_PATHS } from '../../src/logger.ts';
import { startWeb } from '../../src/http/web.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let url: string;

beforeAll(async () => {
  env = await createTestEnv({ ADMIN_BASIC_AUTH: 'ops:correct-horse-battery' });
  url = (await env.startWeb()).url;
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
  it('answers 401 without credentials, for a plain user, for a tenant-scoped service key, and with a wrong password', async () => {
    expect((await fetch(`${url}/admin/queues`)).status).toBe(401);
    const user = await env.userToken('u1', ['acme']);
    const refused: Record<string, string>[] = [{ authorization: `Bearer ${user}` }, { cookie: `herald_token=${user}` }, { authorization: `Bearer ${ACME_KEY}` }];
    for (const headers of refused) {
      expect((await fetch(`${url}/admin/queues`, { headers })).status).toBe(401);
      expect((await fetch(`${url}/admin/queues/api/queues/route/pause`, { method: 'PUT', headers })).status).toBe(401);
    }
    const wrong = Buffer.from('ops:nope').toString('base64');
    const res = await fetch(`${url}/admin/queues`, { headers: { authorization: `Basic ${wrong}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Basic');
  });

  it('shows every Herald queue to an admin token (header or cookie), the operator password and a service key for every tenant', async () => {
    const admin = await env.userToken('root', ['acme'], 'admin');
    const basic = Buffer.from('ops:correct-horse-battery').toString('base64');
    const credentials: Record<string, string>[] = [
      { authorization: `Bearer ${admin}` },
      { cookie: `herald_token=${admin}` },
      { authorization: `Bearer ${SERVICE_KEY}` },
      { authorization: `Basic ${basic}` },
    ];
    for (const headers of credentials) {
      const page = await fetch(`${url}/admin/queues`, { headers });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
    }
    const queues = await fetch(`${url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${admin}` } });
    const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    expect(names).toEqual(['chat', 'email', 'inapp', 'push', 'route', 'webhook']);
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
    expect(down.body.checks).toEqual({ postgres: 'ok', redis: 'down' });
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
