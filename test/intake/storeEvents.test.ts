import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeEnvelope, eventEnvelopeSchema } from '../../src/intake/eventEnvelope.ts';
import { storeEvents } from '../../src/intake/storeEvents.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
  await env.db.$client`insert into tenants (id, name) values ('acme', 'Acme') on conflict do nothing`;
});
afterAll(() => env?.cleanup());

const envelope = (raw: Record<string, unknown>) => completeEnvelope(eventEnvelopeSchema.parse({ tenantId: 'acme', type: 'finding_created', ...raw }));

// The intake sends the envelopes as one json array and reads each column back out of its envelope:
// what JSON escapes (quotes, backslashes, astral characters), text that looks like NULL or like
// SQL syntax, and absent fields must come back as sent, in the columns and the envelope alike.
describe('storeEvents keeps every envelope exactly as published', () => {
  it('stores escaped and NULL-looking text as sent, absent fields as NULL, and the columns beside the envelope', async () => {
    const tricky = envelope({
      id: 'e "quoted", {braced} \\ back',
      severity: 'critical',
      actorId: 'NULL',
      occurredAt: '2026-01-02T03:04:05.678+02:00',
      data: { title: 'a "b" \\ c, {d} 🚨 — é', nested: { list: [1, 'two', null, { three: true }] }, empty: '', nul: 'NULL' },
    });
    const plain = envelope({ id: 'plain', severity: '' });
    const { outcomes } = await storeEvents(env.db, [tricky, plain]);
    expect(outcomes).toEqual(['accepted', 'accepted']);

    const rows = await env.db.$client<{ id: string; type: string; severity: string | null; actor_id: string | null; envelope: unknown; occurred_ms: number }[]>`
      select id, type, severity, actor_id, envelope, (extract(epoch from occurred_at) * 1000)::float8 as occurred_ms from events where tenant_id = 'acme' order by id`;
    expect(rows).toEqual([
      { id: tricky.id, type: 'finding_created', severity: 'critical', actor_id: 'NULL', envelope: tricky, occurred_ms: Date.parse('2026-01-02T01:04:05.678Z') },
      { id: 'plain', type: 'finding_created', severity: null, actor_id: null, envelope: plain, occurred_ms: Date.parse(plain.occurredAt) },
    ]);
  });
});
