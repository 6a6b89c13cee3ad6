import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { routedEventIds } from '../helpers/routed.ts';
import { createTestEnv, SERVICE_KEY, type TestEnv } from '../helpers/testEnv.ts';

/**
 * SPEC §2: an event id is its publisher's idempotency key within its tenant. Before, ids were
 * global: a tenant that published an id another tenant had used got `200 duplicate` and its
 * event was dropped — so pre-claiming predictable ids suppressed another tenant's
 * notifications, and the answer told that the id existed.
 */

const ACME_ONLY = 'test-key-acme-only-0000000000001';
const GLOBEX_ONLY = 'test-key-globex-only-00000000001';

let env: TestEnv;
let api: ApiClient;
let acme: ApiClient;
let globex: ApiClient;

beforeAll(async () => {
  env = await createTestEnv({ SERVICE_KEYS: JSON.stringify({ [SERVICE_KEY]: ['*'], [ACME_ONLY]: ['acme'], [GLOBEX_ONLY]: ['globex'] }) });
  const web = await env.startWeb();
  await env.startRouter();
  api = apiClient(web.url);
  acme = apiClient(web.url, ACME_ONLY);
  globex = apiClient(web.url, GLOBEX_ONLY);
  await seedDirectory(api, 'acme', ['alice']);
  await seedDirectory(api, 'globex', ['gary']);
});
afterAll(() => env?.cleanup());

const inboxOf = async (userId: string, tenantId: string) =>
  (await api.get(`/api/v1/notifications`, await env.userToken(userId, [tenantId]))).body.items as { eventId: string; title: string }[];

describe('event ids are unique per tenant', () => {
  it('accepts another tenant’s use of an id as a new event and delivers it; a repeat within a tenant is a duplicate', async () => {
    const first = await acme.post('/api/v1/events', { id: 'evt_shared', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['alice'], data: { title: 'for acme' } });
    expect(first.status).toBe(202);
    // The attack: globex publishes the id acme used (or acme pre-claims one globex will use).
    const second = await globex.post('/api/v1/events', { id: 'evt_shared', tenantId: 'globex', type: 'finding_created', assigneeUserIds: ['gary'], data: { title: 'for globex' } });
    expect(second.status).toBe(202);
    expect(second.body).toEqual({ id: 'evt_shared', status: 'accepted' });

    await eventually(async () => (await inboxOf('gary', 'globex')).some((n) => n.eventId === 'evt_shared'));
    await eventually(async () => (await inboxOf('alice', 'acme')).some((n) => n.eventId === 'evt_shared'));
    expect((await inboxOf('gary', 'globex')).map((n) => n.title)).toEqual(['for globex']);
    expect((await inboxOf('alice', 'acme')).map((n) => n.title)).toEqual(['for acme']);

    const repeat = await globex.post('/api/v1/events', { id: 'evt_shared', tenantId: 'globex', type: 'finding_created', assigneeUserIds: ['gary'] });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual({ id: 'evt_shared', status: 'duplicate' });
  });

  it('treats the same id for two tenants in one batch as two events', async () => {
    const res = await api.post('/api/v1/events/batch', {
      events: [
        { id: 'evt_batch', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['alice'] },
        { id: 'evt_batch', tenantId: 'globex', type: 'finding_created', assigneeUserIds: ['gary'] },
        { id: 'evt_batch', tenantId: 'globex', type: 'finding_created', assigneeUserIds: ['gary'] },
      ],
    });
    expect(res.body.results.map((r: { status: string }) => r.status)).toEqual(['accepted', 'accepted', 'duplicate']);
    const stored = await env.db.$client`select tenant_id from events where id = 'evt_batch' order by tenant_id`;
    expect(stored.map((r) => r.tenant_id)).toEqual(['acme', 'globex']);
  });

  it('takes ?tenantId= on the timeline where an id names events of several of the caller’s tenants', async () => {
    await eventually(async () => (await routedEventIds(env.db.$client, ['evt_shared'])).length === 2);
    // A key that sees both tenants must say which one it means.
    const ambiguous = await api.get('/api/v1/events/evt_shared/deliveries');
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.error.details).toEqual([expect.objectContaining({ field: 'tenantId' })]);
    const forAcme = await api.get('/api/v1/events/evt_shared/deliveries?tenantId=acme');
    expect(forAcme.status).toBe(200);
    expect(forAcme.body.items.map((d: { destination: string }) => d.destination)).toEqual(['alice']);

    // A key of one tenant sees only its own event, and needs no tenantId.
    const ownOnly = await globex.get('/api/v1/events/evt_shared/deliveries');
    expect(ownOnly.status).toBe(200);
    expect(ownOnly.body.items.map((d: { destination: string }) => d.destination)).toEqual(['gary']);
    // Asking for a tenant outside its scope is refused, and an id only another tenant used is not found.
    expect((await globex.get('/api/v1/events/evt_shared/deliveries?tenantId=acme')).status).toBe(403);
    await acme.post('/api/v1/events', { id: 'evt_acme_only', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['alice'] });
    const other = await globex.get('/api/v1/events/evt_acme_only/deliveries');
    expect(other.status).toBe(404);
    expect(JSON.stringify(other.body)).not.toContain('acme');
  });

  it('never tells a tenant which tenants an existing user belongs to', async () => {
    const res = await globex.put('/api/v1/users/alice', { email: 'alice@globex.example', name: 'Alice', tenantIds: ['globex'] });
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toContain('acme');
    expect((await globex.get('/api/v1/users/alice')).status).toBe(404);
  });
});
