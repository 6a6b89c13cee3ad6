import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1', 'u2']);
  await seedDirectory(api, 'globex', ['g1']);
});
afterAll(() => env?.cleanup());

const event = (over: Record<string, unknown> = {}) => ({ type: 'finding_created', tenantId: 'acme', severity: 'high', assigneeUserIds: ['u1'], data: { title: 'SQLi' }, ...over });

describe('POST /api/v1/events', () => {
  it('answers 202 accepted once the event is stored, with the given id', async () => {
    const res = await api.post('/api/v1/events', event({ id: 'evt_first' }));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: 'evt_first', status: 'accepted' });
    const rows = await env.db.$client`select id, tenant_id, severity from events where id = 'evt_first'`;
    expect(rows).toEqual([{ id: 'evt_first', tenant_id: 'acme', severity: 'high' }]);
  });

  it('stores every field of the envelope as given, filling in only what is absent', async () => {
    const full = {
      id: 'evt_full',
      type: 'approval_requested',
      tenantId: 'acme',
      severity: 'HIGH',
      priority: 'urgent',
      actorId: 'u2',
      assigneeUserIds: ['u1'],
      assigneeTeamIds: ['t1'],
      recipientUserIds: ['u2'],
      approval: { requesterId: 'u2', approverCandidateIds: ['u1'] },
      data: { title: 'Deploy?', nested: { n: 1 } },
      occurredAt: '2026-12-04T10:00:00+02:00',
    };
    const bare = { id: 'evt_bare', type: 'scan_finished', tenantId: 'acme' };
    const res = await api.post('/api/v1/events/batch', { events: [full, bare] });
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { id: 'evt_full', status: 'accepted' },
      { id: 'evt_bare', status: 'accepted' },
    ]);
    const rows = await env.db.$client<{ id: string; envelope: Record<string, unknown> }[]>`
      select id, envelope from events where id in ('evt_full', 'evt_bare') order by id desc`;
    expect(rows[0]!.envelope).toStrictEqual({ ...full, severity: 'high', occurredAt: '2026-12-04T08:00:00.000Z' });
    expect(rows[1]!.envelope).toStrictEqual({
      ...bare,
      severity: null,
      actorId: null,
      assigneeUserIds: [],
      assigneeTeamIds: [],
      recipientUserIds: [],
      approval: null,
      data: {},
      occurredAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
    });
  });

  it('generates an id when none is given, time first, so later ones sort after earlier ones', async () => {
    const before = Date.now();
    const first = await api.post('/api/v1/events', event());
    const second = await api.post('/api/v1/events', event());
    expect([first.status, second.status]).toEqual([202, 202]);
    for (const { body } of [first, second]) expect(body.id).toMatch(/^evt_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const millis = Number.parseInt(first.body.id.slice(4).replaceAll('-', '').slice(0, 12), 16);
    expect(millis).toBeGreaterThanOrEqual(before - 1_000);
    expect(millis).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(second.body.id > first.body.id).toBe(true);
  });

  it('answers 200 duplicate for an id it has seen and stores nothing new', async () => {
    await api.post('/api/v1/events', event({ id: 'evt_dup' }));
    const again = await api.post('/api/v1/events', event({ id: 'evt_dup', data: { title: 'changed' } }));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ id: 'evt_dup', status: 'duplicate' });
    const [row] = await env.db.$client`select envelope->'data'->>'title' as title from events where id = 'evt_dup'`;
    expect(row!.title).toBe('SQLi');
  });

  it('treats concurrent publishes of one id as one accept and duplicates', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => api.post('/api/v1/events', event({ id: 'evt_race' }))));
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200 && r.body.status === 'duplicate')).toHaveLength(7);
  });

  it.each([
    ['an unknown severity', { severity: 'severe' }, 'severity'],
    ['a missing type', { type: undefined }, 'type'],
    ['a bad tenant id', { tenantId: 'no spaces allowed' }, 'tenantId'],
    ['a non-array of assignees', { assigneeUserIds: 'u1' }, 'assigneeUserIds'],
    ['a bad occurredAt', { occurredAt: 'yesterday' }, 'occurredAt'],
    ['data that is not an object', { data: [1, 2] }, 'data'],
  ])('answers 400 naming the field for %s', async (_name, over, field) => {
    const res = await api.post('/api/v1/events', event(over));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toContain(field);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('accepts an empty or absent severity and normalises its case', async () => {
    expect((await api.post('/api/v1/events', event({ severity: '' }))).status).toBe(202);
    expect((await api.post('/api/v1/events', event({ severity: undefined }))).status).toBe(202);
    const res = await api.post('/api/v1/events', event({ id: 'evt_case', severity: ' Critical ' }));
    expect(res.status).toBe(202);
    const [row] = await env.db.$client`select severity from events where id = 'evt_case'`;
    expect(row!.severity).toBe('critical');
  });

  it('answers 400 for malformed JSON and 413 for a body over 256 KiB', async () => {
    expect((await api.post('/api/v1/events', '{"type":')).status).toBe(400);
    const big = await api.post('/api/v1/events', event({ data: { blob: 'x'.repeat(300 * 1024) } }));
    expect(big.status).toBe(413);
  });

  it('answers 401 without a key or with a wrong one, and for a user token', async () => {
    expect((await api.post('/api/v1/events', event(), null)).status).toBe(401);
    expect((await api.post('/api/v1/events', event(), 'not-a-real-key')).status).toBe(401);
    const userToken = await env.userToken('u1', ['acme'], 'admin');
    expect((await api.post('/api/v1/events', event(), userToken)).status).toBe(403);
  });

  it('answers 403 when the key is not allowed for the tenant', async () => {
    const res = await api.post('/api/v1/events', event({ tenantId: 'globex' }), ACME_KEY);
    expect(res.status).toBe(403);
    expect((await api.post('/api/v1/events', event(), ACME_KEY)).status).toBe(202);
  });

  it('answers 422 unknown_tenant for a tenant not in the directory', async () => {
    const res = await api.post('/api/v1/events', event({ tenantId: 'initech' }));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('unknown_tenant');
  });
});

describe('POST /api/v1/events/batch', () => {
  it('answers each event in input order; a rejected one names its field and the others are accepted', async () => {
    const res = await api.post('/api/v1/events/batch', {
      events: [
        event({ id: 'b1' }),
        event({ id: 'b2', severity: 'bogus' }),
        event({ id: 'evt_first' }),
        event({ id: 'b3', tenantId: 'initech' }),
        event({ id: 'b1' }),
        event({ id: 'b4' }),
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([
      ['b1', 'accepted'],
      ['b2', 'rejected'],
      ['evt_first', 'duplicate'],
      ['b3', 'rejected'],
      ['b1', 'duplicate'],
      ['b4', 'accepted'],
    ]);
    expect(res.body.results[1].error).toContain('events.1.severity');
    expect(res.body.results[3].error).toContain('tenantId');
  });

  it('rejects a NUL character or half a surrogate pair naming its field, without failing the rest of the batch', async () => {
    const res = await api.post('/api/v1/events/batch', { events: [event({ id: 'nul_ok' }), event({ id: 'nul_bad', data: { title: 'a\u0000b' } })] });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'rejected']);
    expect(res.body.results[1].error).toContain('events.1.data.title');
    const single = await api.post('/api/v1/events', event({ data: { nested: [{ x: '\u0000' }] } }));
    expect(single.status).toBe(400);
    expect(single.body.error.details[0].field).toBe('data.nested.0.x');
    const surrogate = await api.post('/api/v1/events/batch', `{"events":[{"type":"t","tenantId":"acme","id":"half_ok"},{"type":"t","tenantId":"acme","id":"half_bad","data":{"a":"x\\udc00y"}}]}`);
    expect(surrogate.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'rejected']);
    expect(surrogate.body.results[1].error).toContain('events.1.data.a: must be well-formed Unicode');
  });

  it('rejects data nested without bound naming the field (no 500), without failing the rest of the batch', async () => {
    // Written out by hand: JSON.stringify itself would overflow the stack on it.
    const deep = JSON.stringify(event({ id: 'deep_bad', data: { a: 'DEEP' } })).replace('"DEEP"', '['.repeat(20_000) + ']'.repeat(20_000));
    const res = await api.post('/api/v1/events/batch', `{"events":[${JSON.stringify(event({ id: 'deep_ok', data: { a: [[[1]]] } }))},${deep}]}`);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'rejected']);
    expect(res.body.results[1].error).toMatch(/^events\.1\.data\.a\.0\.0.*: must not nest deeper than 64 levels/);
    const single = await api.post('/api/v1/events', `{"type":"finding_created","tenantId":"acme","data":{"a":${'{"b":'.repeat(10_000)}1${'}'.repeat(10_000)}}}`);
    expect(single.status).toBe(400);
    expect(single.body.error.details[0].field).toMatch(/^data\.a\.b\.b/);
  });

  it('rejects an empty or over-long list with 400 and stores nothing', async () => {
    expect((await api.post('/api/v1/events/batch', { events: [] })).status).toBe(400);
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ id: `many_${i}`, type: 't', tenantId: 'acme' }));
    const res = await api.post('/api/v1/events/batch', { events: tooMany });
    expect(res.status).toBe(400);
    const [row] = await env.db.$client`select count(*)::int as n from events where id like 'many_%'`;
    expect(row!.n).toBe(0);
  });

  it('rejects, per event, tenants outside the key’s scope', async () => {
    const res = await api.post('/api/v1/events/batch', { events: [event({ id: 'scoped_ok' }), event({ id: 'scoped_no', tenantId: 'globex' })] }, ACME_KEY);
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'rejected']);
  });
});

describe('rate limit and storage outages', () => {
  it('answers 429 with Retry-After over INTAKE_RATE_LIMIT', async () => {
    const limited = await env.startWeb({ INTAKE_RATE_LIMIT: 3 });
    const client = apiClient(limited.url);
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push(await client.post('/api/v1/events', event()));
    const refused = statuses.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('answers 503, never 202, when Postgres is unreachable', async () => {
    const broken = await env.startWeb({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/herald' });
    const started = Date.now();
    const res = await apiClient(broken.url).post('/api/v1/events', event({ id: 'evt_nodb' }));
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    const ready = await apiClient(broken.url).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body.checks).toEqual({ postgres: 'down', redis: 'ok' });
  });
});
