import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, type ApiClient } from '../helpers/api.ts';
import { ACME_KEY, createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let api: ApiClient;

beforeAll(async () => {
  env = await createTestEnv();
  api = apiClient((await env.startWeb()).url);
  await api.put('/api/v1/tenants/acme', { name: 'Acme' });
  await api.put('/api/v1/tenants/globex', { name: 'Globex' });
});
afterAll(() => env?.cleanup());

const full = {
  logoUrl: 'https://cdn.acme.example/logo.png',
  primaryColor: '#FF6600',
  secondaryColor: '#333',
  companyName: 'Acme Security',
  footerText: 'Acme Corp · 1 Main St\nUnsubscribe in your settings.',
  replyTo: 'security@acme.example',
};

describe('branding', () => {
  it('starts empty, PUT answers 200 with what is stored, GET echoes it, PUT replaces', async () => {
    expect((await api.get('/api/v1/tenants/acme/branding')).body).toEqual({});
    const put = await api.put('/api/v1/tenants/acme/branding', full);
    expect(put.status).toBe(200);
    expect(put.body).toEqual(full);
    expect((await api.get('/api/v1/tenants/acme/branding')).body).toEqual(full);

    const replaced = await api.put('/api/v1/tenants/acme/branding', { companyName: 'Acme', logoUrl: null });
    expect(replaced.body).toEqual({ companyName: 'Acme' });
    expect((await api.get('/api/v1/tenants/acme')).body.name).toBe('Acme');
  });

  it('refuses bad values with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ logoUrl: 'http://cdn.acme.example/logo.png' }, 'logoUrl'],
      [{ logoUrl: 'javascript:alert(1)' }, 'logoUrl'],
      [{ primaryColor: 'red' }, 'primaryColor'],
      [{ secondaryColor: '#12345' }, 'secondaryColor'],
      [{ primaryColor: '#fff;background:url(x)' }, 'primaryColor'],
      [{ companyName: 'Acme\r\nBcc: x@example.com' }, 'companyName'],
      [{ replyTo: 'not-an-address' }, 'replyTo'],
      [{ replyTo: 'a@example.com\r\nBcc: b@example.com' }, 'replyTo'],
      [{ footerText: 'x'.repeat(2001) }, 'footerText'],
      [{ primaryColour: '#fff' }, 'primaryColour'],
      // Text Postgres cannot keep in jsonb: answered 400 naming the field, not 500.
      [{ footerText: 'a\u0000b' }, 'footerText'],
      [{ footerText: 'half a pair \uDC00' }, 'footerText'],
    ];
    for (const [body, field] of cases) {
      const res = await api.put('/api/v1/tenants/acme/branding', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.message, JSON.stringify(body)).toContain(field);
    }
  });

  it('is scoped to the caller’s tenants and needs the tenant to exist', async () => {
    expect((await api.put('/api/v1/tenants/globex/branding', full, ACME_KEY)).status).toBe(403);
    expect((await api.get('/api/v1/tenants/globex/branding', ACME_KEY)).status).toBe(403);
    expect((await api.get('/api/v1/tenants/acme/branding', ACME_KEY)).status).toBe(200);
    expect((await api.get('/api/v1/tenants/acme/branding', await env.userToken('u1', ['acme']))).status).toBe(403);
    expect((await api.put('/api/v1/tenants/ghost/branding', full)).status).toBe(404);
  });

  it('reaches templates as brand.* at once', async () => {
    const preview = () => api.post('/api/v1/templates/preview', { tenantId: 'globex', eventType: 'report_ready', channel: 'email' });
    expect((await preview()).body.html).toContain('Globex');
    await api.put('/api/v1/tenants/globex/branding', { ...full, companyName: 'Globex Corp', primaryColor: '#00aa00' });
    const branded = (await preview()).body;
    expect(branded.html).toContain('#00aa00');
    expect(branded.html).toContain('https://cdn.acme.example/logo.png');
    expect(branded.text).toContain('Unsubscribe in your settings.');
  });
});
