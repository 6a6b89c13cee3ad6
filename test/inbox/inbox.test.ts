import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let u1: string;
let u2: string;

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  await env.startRouter();
  await env.startInapp();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1', 'u2', 'u3']);
  await seedDirectory(api, 'globex', ['g1']);
  u1 = await env.userToken('u1', ['acme']);
  u2 = await env.userToken('u2', ['acme']);
});
afterAll(() => env?.cleanup());

async function publish(body: Record<string, unknown>) {
  const res = await api.post('/api/v1/events', { tenantId: 'acme', type: 'finding_created', ...body });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

async function inboxOf(token: string, query = '') {
  const res = await api.get(`/api/v1/notifications${query}`, token);
  expect(res.status).toBe(200);
  return res.body as { items: any[]; nextCursor: string | null };
}

/** The event's delivery timeline (SPEC §7), by destination. */
async function deliveriesOf(eventId: string): Promise<{ channel: string; destination: string; state: string; last_error: string | null }[]> {
  const res = await api.get(`/api/v1/events/${eventId}/deliveries`);
  expect(res.status).toBe(200);
  return (res.body.items as { channel: string; destination: string; state: string; lastError: string | null }[])
    .map(({ channel, destination, state, lastError }) => ({ channel, destination, state, last_error: lastError }))
    .sort((a, b) => (a.destination < b.destination ? -1 : 1));
}

describe('from publish to inbox', () => {
  it('reaches every assignee and recipient once, never the actor, and records skips', async () => {
    const id = await publish({
      id: 'evt_route_1',
      severity: 'high',
      actorId: 'u3',
      assigneeUserIds: ['u1', 'u2', 'u3', 'g1', 'ghost'],
      recipientUserIds: ['u1'],
      data: { title: 'SQL injection in /login', body: 'Parameter id', url: 'https://app.example/findings/42' },
    });
    await eventually(async () => (await inboxOf(u2)).items.some((n) => n.eventId === id));
    const mine = (await inboxOf(u1)).items.filter((n) => n.eventId === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      eventId: id,
      type: 'finding_created',
      tenantId: 'acme',
      severity: 'high',
      title: 'SQL injection in /login',
      body: 'Parameter id',
      url: 'https://app.example/findings/42',
      readAt: null,
    });
    expect(typeof mine[0].id).toBe('string');
    expect((await inboxOf(await env.userToken('u3', ['acme']))).items.filter((n) => n.eventId === id)).toHaveLength(0);

    const deliveries = await eventually(async () => {
      const rows = await deliveriesOf(id);
      return rows.every((r) => r.state !== 'pending') ? rows : null;
    });
    expect(deliveries.map((d) => [d.destination, d.state, d.last_error])).toEqual([
      ['g1', 'skipped', 'not a user of tenant acme'],
      ['ghost', 'skipped', 'no such user'],
      ['u1', 'sent', null],
      ['u2', 'sent', null],
    ]);
  });

  it('routes approval events by role', async () => {
    const requested = await publish({
      id: 'evt_appr_req',
      type: 'approval_requested',
      actorId: 'u3',
      assigneeUserIds: ['u3'],
      approval: { requesterId: 'u3', approverCandidateIds: ['u1', 'u2'] },
    });
    const approved = await publish({
      id: 'evt_appr_ok',
      type: 'approval_approved',
      actorId: 'u1',
      assigneeUserIds: ['u2'],
      approval: { requesterId: 'u2', approverCandidateIds: ['u1'] },
    });
    await eventually(async () => (await inboxOf(u2)).items.some((n) => n.eventId === approved));
    const u1Events = (await inboxOf(u1)).items.map((n) => n.eventId);
    const u2Events = (await inboxOf(u2)).items.map((n) => n.eventId);
    expect(u1Events).toContain(requested);
    expect(u1Events).not.toContain(approved);
    expect(u2Events).toContain(requested);
    expect(u2Events).toContain(approved);
  });

  it('fans out nothing new for a duplicate publish', async () => {
    await publish({ id: 'evt_once', assigneeUserIds: ['u1'], data: { title: 'First copy' } });
    await eventually(async () => (await inboxOf(u1)).items.some((n) => n.eventId === 'evt_once'));
    // The repeat names one more user and other text; a second inbox row for u1 could not happen
    // anyway (notifications are unique per event and user), but u2 and the text could change.
    const again = await api.post('/api/v1/events', { id: 'evt_once', tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['u1', 'u2'], data: { title: 'Second copy' } });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('duplicate');
    // Routing reads the stored event: while it is the first copy, no later run can reach u2.
    const [stored] = await env.db.$client`select envelope from events where id = 'evt_once'`;
    expect(stored!.envelope).toMatchObject({ assigneeUserIds: ['u1'], data: { title: 'First copy' } });
    expect((await deliveriesOf('evt_once')).map((d) => `${d.channel} ${d.destination}`)).toEqual(['inapp u1']);
    expect((await inboxOf(u2)).items.some((n) => n.eventId === 'evt_once')).toBe(false);
  });
});

describe('inbox API', () => {
  it('marks one read (204), answers 404 for someone else’s, and keeps the summary right', async () => {
    await publish({ id: 'evt_read', assigneeUserIds: ['u1', 'u2'] });
    const mine = await eventually(async () => (await inboxOf(u1)).items.find((n) => n.eventId === 'evt_read'));
    const before = (await api.get('/api/v1/notifications/summary', u1)).body;

    expect((await api.post(`/api/v1/notifications/${mine.id}/read`, undefined, u2)).status).toBe(404);
    expect((await api.post('/api/v1/notifications/999999999/read', undefined, u1)).status).toBe(404);
    expect((await api.post('/api/v1/notifications/not-an-id/read', undefined, u1)).status).toBe(404);
    expect((await api.post(`/api/v1/notifications/${mine.id}/read`, undefined, u1)).status).toBe(204);
    expect((await api.post(`/api/v1/notifications/${mine.id}/read`, undefined, u1)).status).toBe(204);

    const after = (await api.get('/api/v1/notifications/summary', u1)).body;
    expect(after).toEqual({ total: before.total, unread: before.unread - 1, unseen: before.unseen - 1 });
    const read = (await inboxOf(u1, '?read=true')).items;
    expect(read.map((n) => n.id)).toContain(mine.id);
    expect(read.every((n) => n.readAt !== null)).toBe(true);
    expect((await inboxOf(u1, '?read=false')).items.every((n) => n.readAt === null)).toBe(true);
  });

  it('filters by type and reads all', async () => {
    await publish({ id: 'evt_sla', type: 'sla_breached', assigneeUserIds: ['u2'] });
    await eventually(async () => (await inboxOf(u2)).items.some((n) => n.eventId === 'evt_sla'));
    const sla = (await inboxOf(u2, '?type=sla_breached')).items;
    expect(sla.map((n) => n.eventId)).toEqual(['evt_sla']);

    const unread = (await api.get('/api/v1/notifications/summary', u2)).body.unread;
    expect(unread).toBeGreaterThan(0);
    const res = await api.post('/api/v1/notifications/read-all', undefined, u2);
    expect(res.body).toEqual({ updated: unread });
    expect((await api.get('/api/v1/notifications/summary', u2)).body.unread).toBe(0);
  });

  it('needs a user token, and a token only sees its own tenants', async () => {
    expect((await api.get('/api/v1/notifications', null)).status).toBe(401);
    expect((await api.get('/api/v1/notifications')).status).toBe(401); // a service key is not a person
    const otherTenantOnly = await env.userToken('u1', ['globex']);
    expect((await inboxOf(otherTenantOnly)).items).toEqual([]);
    expect((await api.get('/api/v1/notifications?limit=0', u1)).status).toBe(400);
    expect((await api.get('/api/v1/notifications?cursor=abc', u1)).status).toBe(400);
  });

  it('pages newest first without repeating or skipping rows inserted between pages', async () => {
    await seedDirectory(api, 'acme', ['pager']);
    const token = await env.userToken('pager', ['acme']);
    const first = Array.from({ length: 25 }, (_, i) => ({ id: `page_a_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['pager'] }));
    await api.post('/api/v1/events/batch', { events: first });
    await eventually(async () => (await api.get('/api/v1/notifications/summary', token)).body.total === 25);

    const seen: string[] = [];
    let page = await inboxOf(token, '?limit=10');
    seen.push(...page.items.map((n) => n.eventId));
    // New rows arrive between pages: they must not appear in later pages nor shift earlier ones.
    const later = Array.from({ length: 7 }, (_, i) => ({ id: `page_b_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: ['pager'] }));
    await api.post('/api/v1/events/batch', { events: later });
    await eventually(async () => (await api.get('/api/v1/notifications/summary', token)).body.total === 32);
    while (page.nextCursor) {
      page = await inboxOf(token, `?limit=10&cursor=${page.nextCursor}`);
      seen.push(...page.items.map((n) => n.eventId));
    }
    expect(seen).toHaveLength(25);
    expect(new Set(seen).size).toBe(25);
    expect(seen.every((id) => id.startsWith('page_a_'))).toBe(true);
    const ids = (await inboxOf(token, '?limit=100')).items.map((n) => BigInt(n.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : 1)));
  });
});
