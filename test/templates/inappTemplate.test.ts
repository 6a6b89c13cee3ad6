import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;
let u1: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await env.startInapp();
  await seedDirectory(api, 'acme', ['u1']);
  await seedDirectory(api, 'globex', ['g1']);
  u1 = await env.userToken('u1', ['acme']);
});
afterAll(() => env?.cleanup());

async function inboxRow(token: string, eventId: string) {
  return eventually(async () => (await api.get('/api/v1/notifications', token)).body.items.find((n: any) => n.eventId === eventId));
}

describe('in-app templates', () => {
  it('write the inbox row with the tenant’s template, the global default, or the event’s own text', async () => {
    const plain = await api.post('/api/v1/events', { tenantId: 'acme', type: 'scan_completed', assigneeUserIds: ['u1'], data: { title: 'Nightly scan', body: '3 new' } });
    expect(await inboxRow(u1, plain.body.id)).toMatchObject({ title: 'Nightly scan', body: '3 new' });

    await api.post('/api/v1/templates', { tenantId: null, eventType: 'scan_completed', channel: 'inapp', title: 'Scan done: {{data.title}}', body: '{{data.body}} & more' });
    await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'scan_completed', channel: 'inapp', title: '{{brand.companyName}}: {{data.title}}', body: '{{data.body}}' });
    await api.put('/api/v1/tenants/acme/branding', { companyName: 'Acme Security' });

    const acme = await api.post('/api/v1/events', { tenantId: 'acme', type: 'scan_completed', assigneeUserIds: ['u1'], data: { title: 'Weekly <scan>', body: '5 new' } });
    expect(await inboxRow(u1, acme.body.id)).toMatchObject({ title: 'Acme Security: Weekly <scan>', body: '5 new' });

    const globex = await api.post('/api/v1/events', { tenantId: 'globex', type: 'scan_completed', assigneeUserIds: ['g1'], data: { title: 'Weekly', body: '1 new', url: 'https://app.example/s/1' } });
    expect(await inboxRow(await env.userToken('g1', ['globex']), globex.body.id)).toMatchObject({
      title: 'Scan done: Weekly',
      body: '1 new & more',
      url: 'https://app.example/s/1',
    });
  });
});
