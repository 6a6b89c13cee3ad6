import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
});
afterAll(() => env?.cleanup());

describe('tenants', () => {
  it('PUT creates (201) then replaces (200), GET echoes, DELETE removes', async () => {
    const created = await api.put('/api/v1/tenants/acme', { name: 'Acme' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'acme', name: 'Acme', createdAt: expect.any(String), updatedAt: expect.any(String) });
    const replaced = await api.put('/api/v1/tenants/acme', { name: 'Acme Corp' });
    expect(replaced.status).toBe(200);
    expect((await api.get('/api/v1/tenants/acme')).body.name).toBe('Acme Corp');
    await api.put('/api/v1/tenants/doomed', { name: 'Doomed' });
    expect((await api.delete('/api/v1/tenants/doomed')).status).toBe(204);
    expect((await api.get('/api/v1/tenants/doomed')).status).toBe(404);
  });

  it('answers 400 naming the place for what Postgres cannot take or the router cannot decode (never 500)', async () => {
    const nulName = await api.put('/api/v1/tenants/acme', { name: 'a\u0000b' });
    expect(nulName.status).toBe(400);
    expect(nulName.body.error.details).toEqual([{ field: 'name', message: 'must not contain the NUL character (\\u0000)' }]);
    const nulPath = await api.get('/api/v1/users/u%00x');
    expect(nulPath.status).toBe(400);
    expect(nulPath.body.error.details[0].field).toBe('(path)');
    const nulQuery = await api.get('/api/v1/rules?eventType=a%00b');
    expect(nulQuery.status).toBe(400);
    expect(nulQuery.body.error.details[0].field).toBe('eventType');
    for (const path of ['/api/v1/tenants/%ZZ', '/api/v1/users/%E0%A4%A', '/api/v1/rules/%']) {
      const res = await api.get(path);
      expect(res.status, path).toBe(400);
      expect(res.body.error.details[0].field).toBe('(path)');
    }
  });

  it('validates the id and body', async () => {
    expect((await api.put('/api/v1/tenants/acme', {})).status).toBe(400);
    const badId = await api.put('/api/v1/tenants/bad%20id', { name: 'x' });
    expect(badId.status).toBe(400);
    expect(badId.body.error.message).toContain('id');
  });

  it('keeps a scoped key inside its tenants, and non-admin users out', async () => {
    await api.put('/api/v1/tenants/globex', { name: 'Globex' });
    expect((await api.get('/api/v1/tenants/globex', ACME_KEY)).status).toBe(403);
    expect((await api.put('/api/v1/tenants/globex', { name: 'mine now' }, ACME_KEY)).status).toBe(403);
    expect((await api.get('/api/v1/tenants/acme', ACME_KEY)).status).toBe(200);
    expect((await api.get('/api/v1/tenants/acme', await env.userToken('u1', ['acme']))).status).toBe(403);
    expect((await api.get('/api/v1/tenants/acme', await env.userToken('admin', ['acme'], 'admin'))).status).toBe(200);
    expect((await api.get('/api/v1/tenants/globex', await env.userToken('admin', ['acme'], 'admin'))).status).toBe(403);
    expect((await api.get('/api/v1/tenants/acme', null)).status).toBe(401);
  });
});

describe('users', () => {
  it('PUT creates and replaces with the SPEC body, and keeps preferences on a replace without them', async () => {
    const body = { email: 'ann@acme.example', name: 'Ann', tenantIds: ['acme'], preferences: { 'finding_created.email': false } };
    const created = await api.put('/api/v1/users/ann', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'ann', email: 'ann@acme.example', tenantIds: ['acme'], slackWebhookUrl: null, preferences: { 'finding_created.email': false } });
    const replaced = await api.put('/api/v1/users/ann', { email: 'ann@acme.example', name: 'Ann B', tenantIds: ['acme'] });
    expect(replaced.status).toBe(200);
    expect(replaced.body.preferences).toEqual({ 'finding_created.email': false });
    expect((await api.get('/api/v1/users/ann')).body.name).toBe('Ann B');
  });

  it('rejects bad input naming the field, unknown tenants with 422, unsafe chat URLs with 400', async () => {
    const bad = await api.put('/api/v1/users/x', { email: 'not-an-address', name: 'X', tenantIds: ['acme'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('email');
    expect((await api.put('/api/v1/users/x', { email: 'x@x.example', name: 'X', tenantIds: ['nope'] })).status).toBe(422);
    const slack = await api.put('/api/v1/users/x', { email: 'x@x.example', name: 'X', tenantIds: ['acme'], slackWebhookUrl: 'https://evil.example/hook' });
    expect(slack.status).toBe(400);
    expect(slack.body.error.details[0].field).toBe('slackWebhookUrl');
    const prefs = await api.put('/api/v1/users/x', { email: 'x@x.example', name: 'X', tenantIds: ['acme'], preferences: { 'finding_created.fax': true } });
    expect(prefs.status).toBe(400);
  });

  it('keeps roles per tenant, a canonical time zone and quiet hours; refuses bad ones naming the field', async () => {
    const body = { email: 'rae@acme.example', name: 'Rae', tenantIds: ['acme', 'globex'], roles: { acme: ['admin', 'approver'], globex: ['viewer'] }, timezone: 'europe/berlin', quietHours: { start: '22:00', end: '07:00' } };
    const created = await api.put('/api/v1/users/rae', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ roles: body.roles, timezone: 'Europe/Berlin', quietHours: { start: '22:00', end: '07:00' } });
    // A tenant-scoped caller sees the roles held in its tenants only.
    expect((await api.get('/api/v1/users/rae', ACME_KEY)).body.roles).toEqual({ acme: ['admin', 'approver'] });
    // Left out: kept. Null quiet hours: none.
    const kept = await api.put('/api/v1/users/rae', { email: 'rae@acme.example', name: 'Rae', tenantIds: ['acme', 'globex'] });
    expect(kept.body).toMatchObject({ roles: body.roles, timezone: 'Europe/Berlin', quietHours: { start: '22:00', end: '07:00' } });
    const cleared = await api.put('/api/v1/users/rae', { ...body, quietHours: null });
    expect(cleared.body.quietHours).toBeNull();
    const defaults = await api.put('/api/v1/users/ned', { email: 'ned@acme.example', name: 'Ned', tenantIds: ['acme'] });
    expect(defaults.body).toMatchObject({ roles: {}, timezone: 'UTC', quietHours: null });

    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ timezone: 'Mars/Olympus_Mons' }, 'timezone'],
      [{ quietHours: { start: '24:00', end: '07:00' } }, 'quietHours.start'],
      [{ quietHours: { start: '22:00' } }, 'quietHours.end'],
      [{ roles: { initech: ['admin'] } }, 'roles.initech'],
      [{ roles: { acme: 'admin' } }, 'roles.acme'],
    ];
    for (const [change, field] of refusals) {
      const res = await api.put('/api/v1/users/rae', { ...body, ...change });
      expect(res.status, field).toBe(400);
      expect(res.body.error.details.map((d: { field: string }) => d.field), field).toContain(field);
    }
    expect((await api.delete('/api/v1/users/rae')).status).toBe(204);
    expect((await api.delete('/api/v1/users/ned')).status).toBe(204);
  });

  it('lists by tenant within scope and hides other tenants’ users', async () => {
    await api.put('/api/v1/users/gus', { email: 'gus@globex.example', name: 'Gus', tenantIds: ['globex'] });
    const acmeList = await api.get('/api/v1/users?tenantId=acme', ACME_KEY);
    expect(acmeList.body.items.map((u: { id: string }) => u.id)).toEqual(['ann']);
    expect((await api.get('/api/v1/users', ACME_KEY)).body.items.map((u: { id: string }) => u.id)).toEqual(['ann']);
    expect((await api.get('/api/v1/users?tenantId=globex', ACME_KEY)).status).toBe(403);
    expect((await api.get('/api/v1/users/gus', ACME_KEY)).status).toBe(404);
    expect((await api.put('/api/v1/users/gus', { email: 'g@acme.example', name: 'G', tenantIds: ['acme'] }, ACME_KEY)).status).toBe(403);
    expect((await api.delete('/api/v1/users/gus', ACME_KEY)).status).toBe(404);
    expect((await api.delete('/api/v1/users/gus')).status).toBe(204);
  });
});

describe('personal chat URLs (SPEC §7.1)', () => {
  const SLACK = 'https://hooks.slack.com/services/TPERSONAL/BPERSONAL/personal-secret';
  const TEAMS = 'https://acme.webhook.office.com/webhookb2/personal-secret';

  it('shows a tenant-scoped caller whether one is set, never the URL; a key for every tenant and the owner see it', async () => {
    await api.put('/api/v1/users/pat', { email: 'pat@acme.example', name: 'Pat', tenantIds: ['acme'], slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS });
    await api.put('/api/v1/users/quinn', { email: 'quinn@acme.example', name: 'Quinn', tenantIds: ['acme'] });
    const scoped = [ACME_KEY, await env.userToken('acme-admin', ['acme'], 'admin')];
    for (const token of scoped) {
      for (const path of ['/api/v1/users/pat', '/api/v1/users?tenantId=acme', '/api/v1/users']) {
        const res = await api.get(path, token);
        expect(res.status).toBe(200);
        expect(JSON.stringify(res.body), path).not.toContain('personal-secret');
      }
      const pat = (await api.get('/api/v1/users/pat', token)).body;
      expect(pat).toMatchObject({ hasSlackWebhookUrl: true, hasTeamsWebhookUrl: true });
      expect(pat).not.toHaveProperty('slackWebhookUrl');
      expect((await api.get('/api/v1/users/quinn', token)).body).toMatchObject({ hasSlackWebhookUrl: false, hasTeamsWebhookUrl: false });
      // Writing it does not echo it back either.
      const rewritten = await api.put('/api/v1/users/pat', { email: 'pat@acme.example', name: 'Pat', tenantIds: ['acme'], slackWebhookUrl: SLACK }, token);
      expect(JSON.stringify(rewritten.body)).not.toContain('personal-secret');
    }
    expect((await api.get('/api/v1/users/pat')).body).toMatchObject({ slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS, hasSlackWebhookUrl: true });
    expect((await api.get('/api/v1/me/chat', await env.userToken('pat', ['acme']))).body).toEqual({ slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS });
  });

  it('keeps the URLs when a user is sent back without them, and removes one set to null', async () => {
    const admin = await env.userToken('acme-admin', ['acme'], 'admin');
    const seen = (await api.get('/api/v1/users/pat', admin)).body;
    expect((await api.put('/api/v1/users/pat', { ...seen, name: 'Pat Renamed' }, admin)).status).toBe(200);
    expect((await api.get('/api/v1/users/pat')).body).toMatchObject({ name: 'Pat Renamed', slackWebhookUrl: SLACK, teamsWebhookUrl: TEAMS });
    const cleared = await api.put('/api/v1/users/pat', { email: 'pat@acme.example', name: 'Pat', tenantIds: ['acme'], teamsWebhookUrl: null }, admin);
    expect(cleared.body).toMatchObject({ hasSlackWebhookUrl: true, hasTeamsWebhookUrl: false });
  });
});

describe('teams', () => {
  it('PUT/GET/DELETE with tenant scoping and URL checks', async () => {
    const created = await api.put('/api/v1/teams/sec', { tenantId: 'acme', name: 'Security', slackWebhookUrl: 'https://hooks.slack.com/services/T0/B0/XYZ' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'sec', tenantId: 'acme', name: 'Security', teamsWebhookUrl: null });
    expect((await api.put('/api/v1/teams/sec', { tenantId: 'acme', name: 'Security Team' })).status).toBe(200);
    const badTeams = await api.put('/api/v1/teams/sec', { tenantId: 'acme', name: 'S', teamsWebhookUrl: 'http://10.0.0.1/hook' });
    expect(badTeams.status).toBe(400);
    expect((await api.put('/api/v1/teams/ops', { tenantId: 'globex', name: 'Ops' })).status).toBe(201);
    expect((await api.get('/api/v1/teams/ops', ACME_KEY)).status).toBe(404);
    // Taking over another tenant's team id is refused without saying whose it is.
    const takeover = await api.put('/api/v1/teams/ops', { tenantId: 'acme', name: 'Mine now' }, ACME_KEY);
    expect(takeover.status).toBe(403);
    expect(JSON.stringify(takeover.body)).not.toContain('globex');
    expect((await api.get('/api/v1/teams?tenantId=acme', ACME_KEY)).body.items.map((t: { id: string }) => t.id)).toEqual(['sec']);
    // Members: kept on a replace without them, de-duplicated, ids checked.
    const members = await api.put('/api/v1/teams/sec', { tenantId: 'acme', name: 'Security', memberIds: ['ann', 'bob', 'ann'] });
    expect(members.body.memberIds).toEqual(['ann', 'bob']);
    expect((await api.put('/api/v1/teams/sec', { tenantId: 'acme', name: 'Security' })).body.memberIds).toEqual(['ann', 'bob']);
    const badMember = await api.put('/api/v1/teams/sec', { tenantId: 'acme', name: 'Security', memberIds: [''] });
    expect(badMember.status).toBe(400);
    expect(badMember.body.error.details[0].field).toBe('memberIds.0');
    expect((await api.delete('/api/v1/teams/ops', ACME_KEY)).status).toBe(404);
    expect((await api.delete('/api/v1/teams/sec', ACME_KEY)).status).toBe(204);
  });
});
