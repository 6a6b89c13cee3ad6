import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inboxStreamSource } from '../../src/inbox/inboxStore.ts';
import type { SseHub } from '../../src/realtime/sseHub.ts';
import { apiClient, eventually, type ApiClient } from '../helpers/api.ts';
import { openStream, startHubServer } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * Streams that open together (a reconnect storm after a deploy): each must get its own user's
 * counts, in its own tenants only, and start right after its own user's last notification — a
 * start too early would replay old rows live, one too late would skip the next.
 */
const USERS = Array.from({ length: 40 }, (_, i) => `b${String(i).padStart(2, '0')}`);
/** User i has i % 4 notifications in acme and one in beta before the streams open. */
const acmeBefore = (i: number) => i % 4;
/** Even users' streams are granted acme only, odd users' acme and beta. */
const tenantsOf = (i: number) => (i % 2 === 0 ? ['acme'] : ['acme', 'beta']);

let env: TestEnv;
let api: ApiClient;
let hub: SseHub;
let baseUrl: string;
let closeHub: (() => Promise<void>) | undefined;
const streams: { close(): void }[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  for (const tenantId of ['acme', 'beta']) expect((await api.put(`/api/v1/tenants/${tenantId}`, { name: tenantId })).status).toBeLessThan(300);
  await env.db.$client`insert into users (id, email, name, tenant_ids) select id, id || '@acme.example', id, array['acme', 'beta'] from unnest(${USERS}::text[]) as id`;
  const events = USERS.flatMap((userId, i) => [
    ...Array.from({ length: acmeBefore(i) }, (_, k) => ({ id: `acme_${userId}_${k}`, type: 'finding_created', tenantId: 'acme', assigneeUserIds: [userId], data: { title: 'before' } })),
    { id: `beta_${userId}`, type: 'finding_created', tenantId: 'beta', assigneeUserIds: [userId], data: { title: 'before' } },
  ]);
  for (const tenantId of ['acme', 'beta']) {
    expect((await api.post('/api/v1/events/batch', { events: events.filter((e) => e.tenantId === tenantId) })).status).toBe(200);
  }
  await eventually(async () => (await env.db.$client`select count(*)::int as n from notifications`)[0]!.n === events.length);

  ({ hub, baseUrl, close: closeHub } = await startHubServer(env, { source: inboxStreamSource(env.db), logger: pino({ level: 'silent' }) }, (hub, req, res) => {
    const params = new URL(req.url!, 'http://x').searchParams;
    void hub.open(req, res, { userId: params.get('user')!, tenantIds: params.get('tenants')!.split(',') });
  }));
});

afterAll(async () => {
  for (const s of streams) s.close();
  await closeHub?.();
  await env?.cleanup();
});

it('opens 40 fresh streams at once, each with its own counts in its own tenants, then carries exactly the next notification of each', async () => {
  const opened = USERS.map((userId, i) => {
    const s = openStream(baseUrl, 'unused', { path: `/stream?user=${userId}&tenants=${tenantsOf(i).join(',')}` });
    streams.push(s);
    return s;
  });
  await Promise.all(opened.map((s) => s.opened));
  for (const [i, s] of opened.entries()) {
    const expected = acmeBefore(i) + (tenantsOf(i).includes('beta') ? 1 : 0);
    const [first] = await s.waitFor((f) => f.type === 'unread_count');
    expect(first!.data, USERS[i]).toEqual({ unread: expected, unseen: expected });
  }
  await eventually(async () => hub.stats().connections === USERS.length);

  const events = USERS.map((userId) => ({ id: `after_${userId}`, type: 'finding_created', tenantId: 'acme', assigneeUserIds: [userId], data: { title: 'after' } }));
  expect((await api.post('/api/v1/events/batch', { events })).status).toBe(200);
  for (const [i, s] of opened.entries()) {
    const expected = acmeBefore(i) + (tenantsOf(i).includes('beta') ? 1 : 0) + 1;
    await s.waitFor((f) => f.type === 'unread_count' && f.data.unread === expected);
    const notifications = await s.waitFor((f) => f.type === 'notification');
    // A fresh stream starts after what its user had: the new row alone, nothing replayed.
    expect(notifications.map((f) => f.data.eventId), USERS[i]).toEqual([`after_${USERS[i]}`]);
  }
});
