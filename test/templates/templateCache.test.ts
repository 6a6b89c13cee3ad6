import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenants } from '../../src/db/schema.ts';
import type { EventEnvelope } from '../../src/intake/eventEnvelope.ts';
import { createRedis } from '../../src/redis.ts';
import type { EmailContent, MessageContent } from '../../src/templates/content.ts';
import {
  createCachedTemplateSource,
  createChangeAnnouncer,
  directSource,
  renderEmail,
  renderMessage,
  type CachedTemplateSource,
} from '../../src/templates/templateRenderer.ts';
import { addTemplateVersion, createTemplate } from '../../src/templates/templateStore.ts';
import { eventually } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
const sources: CachedTemplateSource[] = [];
const subscribers: ReturnType<typeof createRedis>[] = [];

async function instance(): Promise<CachedTemplateSource> {
  const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
  subscribers.push(subscriber);
  const source = await createCachedTemplateSource({ db: env.db, subscriber, prefix: env.config.REDIS_PREFIX, logger: env.logger });
  sources.push(source);
  return source;
}

function event(type: string, tenantId = 'acme'): EventEnvelope {
  return {
    id: `evt_${type}`,
    type,
    tenantId,
    severity: null,
    actorId: null,
    occurredAt: '2026-11-23T10:00:00.000Z',
    assigneeUserIds: [],
    assigneeTeamIds: [],
    recipientUserIds: [],
    approval: null,
    data: { title: 'Thing' },
  };
}

beforeAll(async () => {
  env = await createTestEnv();
  await env.db.insert(tenants).values([{ id: 'acme', name: 'Acme' }, { id: 'globex', name: 'Globex' }]);
});
afterAll(async () => {
  for (const source of sources) await source.close();
  for (const subscriber of subscribers) subscriber.disconnect();
  await env?.cleanup();
});

describe('resolution', () => {
  it('takes the tenant override, else the global default, else the built-in one', async () => {
    const source = directSource(env.db);
    const subjectFor = async (tenantId: string) => (await renderEmail(source, event('res_type', tenantId), null)).content.subject;
    expect(await subjectFor('acme')).toBe('Thing');

    await createTemplate(env.db, { tenantId: null, eventType: 'res_type', channel: 'email' }, { subject: 'Global {{data.title}}', html: '<p>g</p>' });
    expect(await subjectFor('acme')).toBe('Global Thing');

    await createTemplate(env.db, { tenantId: 'acme', eventType: 'res_type', channel: 'email' }, { subject: 'Acme {{data.title}}', html: '<p>a</p>' });
    expect(await subjectFor('acme')).toBe('Acme Thing');
    expect(await subjectFor('globex')).toBe('Global Thing');

    const message = await renderMessage(source, event('res_type'), 'inapp', null);
    expect(message.content).toEqual<MessageContent>({ title: 'Thing', body: '' });
  });
});

describe('cache', () => {
  it('serves from memory until any instance announces a change, then every instance reloads', async () => {
    const api = await instance();
    const workerA = await instance();
    const workerB = await instance();
    const announce = createChangeAnnouncer(env.redis, env.config.REDIS_PREFIX, env.logger);
    const slot = await createTemplate(env.db, { tenantId: 'acme', eventType: 'cached_type', channel: 'email' }, { subject: 'v1', html: '<p>1</p>' });
    const subject = async (source: CachedTemplateSource) => ((await renderEmail(source, event('cached_type'), null)).content as EmailContent).subject;
    expect(await subject(workerA)).toBe('v1');
    expect(await subject(workerB)).toBe('v1');

    await addTemplateVersion(env.db, slot.id, { subject: 'v2', html: '<p>2</p>' });
    expect(await subject(workerA)).toBe('v1'); // cached: nobody announced the change yet

    await announce({ kind: 'template', tenantId: 'acme' });
    await eventually(async () => (await subject(workerA)) === 'v2' && (await subject(workerB)) === 'v2', 5_000);
    expect(await subject(api)).toBe('v2');
  });

  it('drops brands too', async () => {
    const worker = await instance();
    const announce = createChangeAnnouncer(env.redis, env.config.REDIS_PREFIX, env.logger);
    const html = async () => (await renderEmail(worker, event('brand_type', 'globex'), null)).content.html;
    expect(await html()).toContain('#1f6feb');
    await env.db.update(tenants).set({ branding: { primaryColor: '#123456' } });
    await announce({ kind: 'branding', tenantId: 'globex' });
    await eventually(async () => (await html()).includes('#123456'), 5_000);
  });
});
