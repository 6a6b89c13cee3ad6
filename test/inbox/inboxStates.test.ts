import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { streamTracker, type ReceivedFrame } from '../helpers/sse.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/** SPEC §5.1: seen vs read vs archived, bulk actions, actor and actions, and counts right in every tab. */

let env: TestEnv;
let api: ApiClient;
let webUrl: string;
const streams = streamTracker();

beforeAll(async () => {
  env = await createTestEnv();
  const web = await env.startWeb();
  webUrl = web.url;
  await env.startRouter();
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['ana', 'ben', 'cid', 'prop']);
  await seedDirectory(api, 'globex', ['gus']);
  await api.put('/api/v1/users/ana', { email: 'ana@acme.example', name: 'Ana Alvarez', tenantIds: ['acme'] });
});
afterAll(async () => {
  streams.closeAll();
  await env?.cleanup();
});

type Notification = { id: string; eventId: string; priority: string; seenAt: string | null; readAt: string | null; archivedAt: string | null; actor: unknown; actions: unknown };

let n = 0;
async function publishTo(userId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = `st_${n++}`;
  expect((await api.post('/api/v1/events', { id, tenantId: 'acme', type: 'finding_created', assigneeUserIds: [userId], ...extra })).status).toBe(202);
  return id;
}

async function inbox(token: string, query = ''): Promise<Notification[]> {
  const res = await api.get(`/api/v1/notifications${query}`, token);
  expect(res.status).toBe(200);
  return res.body.items;
}

async function waitForRows(token: string, eventIds: string[]): Promise<Notification[]> {
  return eventually(async () => {
    const items = await inbox(token, '?status=all&limit=100');
    const mine = eventIds.map((id) => items.find((i) => i.eventId === id));
    return mine.every(Boolean) ? (mine as Notification[]) : null;
  });
}

describe('notification fields', () => {
  it('carries priority, actor (a user of the event’s tenant only) and up to three safe actions', async () => {
    const token = await env.userToken('ben', ['acme']);
    const withAll = await publishTo('ben', {
      priority: 'high',
      actorId: 'ana',
      data: {
        title: 'Review requested',
        actions: [
          { label: '  Approve  ', url: 'https://app.example/approve' },
          { label: 'Open', url: '/findings/42' },
          { label: 'Evil', url: 'javascript:alert(1)' },
          { label: 'Other site', url: '//evil.example/x' },
          { label: 'x'.repeat(60), url: 'https://app.example/long' },
          { label: 'Fourth', url: 'https://app.example/4' },
        ],
      },
    });
    // An actor from another tenant is not named: a service could otherwise learn other tenants' people.
    const foreignActor = await publishTo('ben', { actorId: 'gus', data: { actions: 'not a list' } });
    const [a, b] = await waitForRows(token, [withAll, foreignActor]);
    expect(a).toMatchObject({ priority: 'high', actor: { id: 'ana', name: 'Ana Alvarez' }, seenAt: null, readAt: null, archivedAt: null });
    expect(a!.actions).toEqual([
      { label: 'Approve', url: 'https://app.example/approve' },
      { label: 'Open', url: '/findings/42' },
      { label: 'x'.repeat(40), url: 'https://app.example/long' },
    ]);
    expect(b).toMatchObject({ priority: 'normal', actor: null, actions: [] });
  });
});

describe('states, filters and bulk actions over HTTP', () => {
  it('filters by status and priority, archives out of the list and the counts, and never touches someone else’s', async () => {
    const token = await env.userToken('cid', ['acme']);
    const ids = [await publishTo('cid', { priority: 'low' }), await publishTo('cid'), await publishTo('cid', { priority: 'urgent' }), await publishTo('cid')];
    const rows = await waitForRows(token, ids);
    const [low, normal, urgent, last] = rows.map((r) => r.id) as [string, string, string, string];
    expect(await api.get('/api/v1/notifications/summary', token).then((r) => r.body)).toEqual({ total: 4, unread: 4, unseen: 4 });

    expect((await api.post('/api/v1/notifications/seen', { ids: [low, normal] }, token)).body).toEqual({ updated: 2 });
    expect((await api.post(`/api/v1/notifications/${normal}/read`, undefined, token)).status).toBe(204);
    expect((await api.post(`/api/v1/notifications/${urgent}/read`, undefined, token)).status).toBe(204);
    expect(await api.get('/api/v1/notifications/summary', token).then((r) => r.body)).toEqual({ total: 4, unread: 2, unseen: 1 });

    const ids_ = async (query: string) => (await inbox(token, query)).map((i) => i.id).sort();
    expect(await ids_('?status=unseen')).toEqual([last].sort());
    expect(await ids_('?status=unread')).toEqual([low, last].sort());
    expect(await ids_('?status=read')).toEqual([normal, urgent].sort());
    expect(await ids_('?priority=high')).toEqual([urgent]);
    expect(await ids_('?read=false')).toEqual([low, last].sort());

    expect((await api.post(`/api/v1/notifications/${low}/archive`, undefined, token)).status).toBe(204);
    expect((await api.post('/api/v1/notifications/archive', { read: true }, token)).body).toEqual({ updated: 2 });
    expect(await ids_('')).toEqual([last]);
    expect(await ids_('?status=archived')).toEqual([low, normal, urgent].sort());
    expect(await ids_('?status=all')).toEqual([low, normal, urgent, last].sort());
    expect(await api.get('/api/v1/notifications/summary', token).then((r) => r.body)).toEqual({ total: 1, unread: 1, unseen: 1 });

    // Someone else's ids: a 404 for one, ignored and not counted in bulk, and their rows unchanged.
    const other = await env.userToken('ana', ['acme']);
    expect((await api.post(`/api/v1/notifications/${last}/archive`, undefined, other)).status).toBe(404);
    expect((await api.post('/api/v1/notifications/seen', { ids: [last] }, other)).body).toEqual({ updated: 0 });
    expect((await api.post('/api/v1/notifications/archive', { ids: [last] }, other)).body).toEqual({ updated: 0 });
    expect(await api.get('/api/v1/notifications/summary', token).then((r) => r.body)).toEqual({ total: 1, unread: 1, unseen: 1 });
  });

  it('refuses bad input naming the field', async () => {
    const token = await env.userToken('cid', ['acme']);
    const cases: [string, string, unknown, string][] = [
      ['get', '/api/v1/notifications?status=new', undefined, 'status'],
      ['get', '/api/v1/notifications?priority=critical', undefined, 'priority'],
      ['post', '/api/v1/notifications/seen', { ids: ['abc'] }, 'ids.0'],
      ['post', '/api/v1/notifications/seen', { ids: Array.from({ length: 1_001 }, (_, i) => String(i + 1)) }, 'ids'],
      ['post', '/api/v1/notifications/archive', { ids: 'all' }, 'ids'],
      ['post', '/api/v1/notifications/archive', { read: 'yes' }, 'read'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = method === 'get' ? await api.get(path, token) : await api.post(path, body, token);
      expect(res.status, path).toBe(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field), path).toContain(field);
    }
  });
});

/** The last count frame a tab got. */
const lastCount = (frames: ReceivedFrame[]) => frames.filter((f) => f.type === 'unread_count').at(-1)?.data as { unread: number; unseen: number } | undefined;

describe('every open tab agrees', () => {
  it('sends seen, archived and count frames to both tabs, and a resumed tab a fresh count', async () => {
    const token = await env.userToken('ana', ['acme']);
    const tabs = [streams.open(webUrl, token), streams.open(webUrl, token)];
    await Promise.all(tabs.map((t) => t.opened));
    const eventId = await publishTo('ana');
    for (const tab of tabs) await tab.waitFor((f) => f.type === 'notification' && f.data.eventId === eventId);
    const id = (await waitForRows(token, [eventId]))[0]!.id;

    await api.post('/api/v1/notifications/seen', { ids: [id] }, token);
    for (const tab of tabs) {
      const [seen] = await tab.waitFor((f) => f.type === 'notifications.seen');
      expect(seen!.data).toEqual({ ids: [id] });
    }
    await api.post(`/api/v1/notifications/${id}/archive`, undefined, token);
    for (const tab of tabs) {
      const [archived] = await tab.waitFor((f) => f.type === 'notification.archived');
      expect(archived!.data).toEqual({ ids: [id] });
    }
    const summary = (await api.get('/api/v1/notifications/summary', token)).body;
    for (const tab of tabs) await eventually(async () => JSON.stringify(lastCount(tab.frames)) === JSON.stringify({ unread: summary.unread, unseen: summary.unseen }));

    // A tab that was away resumes with a count of its own, so its badge is never stale.
    const lastSeen = tabs[0]!.frames.at(-1)!.id;
    tabs[0]!.close();
    await publishTo('ana');
    const resumed = streams.open(webUrl, token, { lastEventId: lastSeen });
    await resumed.waitFor((f) => f.type === 'notification');
    const after = (await api.get('/api/v1/notifications/summary', token)).body;
    await eventually(async () => JSON.stringify(lastCount(resumed.frames)) === JSON.stringify({ unread: after.unread, unseen: after.unseen }));
  });

  it('keeps the last count frame of every tab equal to the summary after any sequence of new, seen, read and archive', async () => {
    const token = await env.userToken('prop', ['acme']);
    const tabs = [streams.open(webUrl, token), streams.open(webUrl, token)];
    await Promise.all(tabs.map((t) => t.opened));
    const ids = async () => (await inbox(token, '?status=all&limit=100')).map((i) => i.id);
    const pick = (list: string[], k: number) => (list.length === 0 ? [] : [list[k % list.length]!]);

    type Op = { kind: 'new' | 'seen-one' | 'seen-all' | 'read-one' | 'read-all' | 'archive-one' | 'archive-read' | 'archive-ids'; k: number };
    const op = fc.record({
      kind: fc.constantFrom<Op['kind']>('new', 'new', 'new', 'seen-one', 'seen-all', 'read-one', 'read-all', 'archive-one', 'archive-read', 'archive-ids'),
      k: fc.nat(50),
    });
    let published = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 3, maxLength: 10 }), async (ops) => {
        for (const { kind, k } of ops) {
          const known = await ids();
          if (kind === 'new') {
            const eventId = await publishTo('prop');
            published++;
            await waitForRows(token, [eventId]);
          } else if (kind === 'seen-one') await api.post('/api/v1/notifications/seen', { ids: pick(known, k) }, token);
          else if (kind === 'seen-all') await api.post('/api/v1/notifications/seen', {}, token);
          else if (kind === 'read-one') for (const id of pick(known, k)) await api.post(`/api/v1/notifications/${id}/read`, undefined, token);
          else if (kind === 'read-all') await api.post('/api/v1/notifications/read-all', undefined, token);
          else if (kind === 'archive-one') for (const id of pick(known, k)) await api.post(`/api/v1/notifications/${id}/archive`, undefined, token);
          else if (kind === 'archive-read') await api.post('/api/v1/notifications/archive', { read: true }, token);
          else await api.post('/api/v1/notifications/archive', { ids: pick(known, k) }, token);

          const { unread, unseen } = (await api.get('/api/v1/notifications/summary', token)).body;
          for (const tab of tabs) {
            await eventually(async () => {
              const last = lastCount(tab.frames);
              return last?.unread === unread && last?.unseen === unseen;
            }, 5_000).catch(() => {
              throw new Error(`after ${kind}: tab shows ${JSON.stringify(lastCount(tab.frames))}, summary says ${JSON.stringify({ unread, unseen })}`);
            });
          }
        }
      }),
      {
        numRuns: 25,
        // Each transition from each state at least once, whatever the random runs draw.
        examples: [
          [[{ kind: 'new', k: 0 }, { kind: 'archive-one', k: 0 }, { kind: 'new', k: 0 }, { kind: 'read-one', k: 0 }, { kind: 'archive-read', k: 0 }]],
          [[{ kind: 'new', k: 0 }, { kind: 'seen-one', k: 0 }, { kind: 'archive-ids', k: 0 }, { kind: 'new', k: 0 }, { kind: 'seen-all', k: 0 }, { kind: 'read-all', k: 0 }]],
        ],
      },
    );
    expect(published).toBeGreaterThan(0);
  }, 120_000);
});
