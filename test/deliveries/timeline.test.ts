import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchLineId, eventTimeline, findTimelineLine, inboxLineId, notificationIdOfLine } from '../../src/deliveries/timeline.ts';
import { inappBatchesOf, markBatchesWritten, recordBatchesStatement } from '../../src/inbox/inappBatches.ts';
import { receiptUpdate } from '../../src/realtime/inappReceipts.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.cleanup());

let nextSeq = 1;

/** An inbox row as a writer leaves it; returns its id. */
async function inboxRow(eventId: string, userId: string, priority = 'normal'): Promise<bigint> {
  const [row] = await env.db.$client<{ id: string }[]>`
    insert into notifications (user_id, seq, tenant_id, event_id, type, title, priority)
    values (${userId}, ${nextSeq++}, 'acme', ${eventId}, 'finding_created', 'a title', ${priority})
    returning id::text`;
  return BigInt(row!.id);
}

async function deliveryRow(eventId: string, channel: string, destination: string, state: string): Promise<string> {
  const [row] = await env.db.$client<{ id: string }[]>`
    insert into deliveries (tenant_id, event_id, channel, destination, user_id, state, attempts)
    values ('acme', ${eventId}, ${channel}, ${destination}, ${channel === 'inapp' ? destination : null}, ${state}, ${state === 'pending' ? 0 : 1})
    returning id`;
  return row!.id;
}

const receive = (eventId: string, userId: string) => env.db.execute(receiptUpdate([{ tenantId: 'acme', eventId, userId }]));
const summary = (lines: Awaited<ReturnType<typeof eventTimeline>>) => lines.map((l) => `${l.channel}:${l.destination}:${l.state}`);

describe('the delivery timeline', () => {
  it('shows a small fan-out’s in-app deliveries from their inbox rows: sent when written, delivered once a stream carried them', async () => {
    const alice = await inboxRow('small', 'alice', 'high');
    await inboxRow('small', 'bob');
    await deliveryRow('small', 'email', 'ops@acme.example', 'pending');
    await deliveryRow('small', 'inapp', 'ghost', 'skipped');

    const before = await eventTimeline(env.db, 'acme', 'small');
    expect(summary(before).sort()).toEqual(['email:ops@acme.example:pending', 'inapp:alice:sent', 'inapp:bob:sent', 'inapp:ghost:skipped']);
    const aliceLine = before.find((l) => l.destination === 'alice')!;
    expect(aliceLine).toMatchObject({ id: inboxLineId(alice), userId: 'alice', priority: 'high', attempts: 1, lastError: null, deliveredAt: null });
    expect(aliceLine.sentAt).toEqual(aliceLine.createdAt);

    await receive('small', 'alice');
    const after = await eventTimeline(env.db, 'acme', 'small');
    const delivered = after.find((l) => l.destination === 'alice')!;
    expect(delivered.state).toBe('delivered');
    expect(delivered.deliveredAt).toBeInstanceOf(Date);
    expect(delivered.updatedAt).toEqual(delivered.deliveredAt);
    expect(after.find((l) => l.destination === 'bob')!.state).toBe('sent');
  });

  it('keeps a stored in-app delivery as its line, delivered once its inbox row got the receipt, and never adds a second line', async () => {
    // A large fan-out's rows: pending until the in-app worker writes the inbox row, then sent.
    await deliveryRow('large', 'inapp', 'carol', 'sent');
    await deliveryRow('large', 'inapp', 'dave', 'pending');
    const carolRow = await inboxRow('large', 'carol');
    // A row written before drizzle/0014, whose delivery a receipt marked delivered then.
    await deliveryRow('large', 'inapp', 'erin', 'delivered');
    await inboxRow('large', 'erin');

    expect(summary(await eventTimeline(env.db, 'acme', 'large'))).toEqual(['inapp:carol:sent', 'inapp:dave:pending', 'inapp:erin:delivered']);
    await receive('large', 'carol');
    const lines = await eventTimeline(env.db, 'acme', 'large');
    expect(summary(lines)).toEqual(['inapp:carol:delivered', 'inapp:dave:pending', 'inapp:erin:delivered']);
    // The stored row keeps its own id: a retry of it finds the row.
    expect(notificationIdOfLine(lines[0]!.id)).toBeNull();
    expect(lines[0]!.id).not.toBe(inboxLineId(carolRow));
  });

  it('shows a large fan-out’s people pending from its batch until their inbox rows are written, and finds each by the same id throughout', async () => {
    const [batch] = inappBatchesOf({ tenantId: 'acme', id: 'fanned' }, [
      { destination: 'gina', priority: 'high', ruleId: null },
      { destination: 'hal', priority: 'normal', ruleId: null },
      { destination: 'ivy', priority: 'normal', ruleId: null },
    ]);
    await env.db.execute(recordBatchesStatement([batch!], null));
    const [recorded] = await env.db.$client<{ id: string }[]>`select id::text from inapp_batches where event_id = 'fanned'`;
    const batchId = BigInt(recorded!.id);
    const pending = await eventTimeline(env.db, 'acme', 'fanned');
    expect(summary(pending)).toEqual(['inapp:gina:pending', 'inapp:hal:pending', 'inapp:ivy:pending']);
    expect(pending.map((l) => l.id)).toEqual([0, 1, 2].map((i) => batchLineId(batchId, i)));
    expect(pending[0]).toMatchObject({ priority: 'high', attempts: 0, sentAt: null, tenantId: 'acme', eventId: 'fanned', userId: 'gina' });

    // The worker writes gina's row; hal's content is refused (a failed row); ivy's is still to come. Lines go by time.
    const ginaRow = await inboxRow('fanned', 'gina');
    await deliveryRow('fanned', 'inapp', 'hal', 'failed');
    expect(summary(await eventTimeline(env.db, 'acme', 'fanned'))).toEqual(['inapp:ivy:pending', 'inapp:gina:sent', 'inapp:hal:failed']);
    // A pending line's id finds what the person's delivery is now.
    expect(await findTimelineLine(env.db, batchLineId(batchId, 0))).toMatchObject({ id: inboxLineId(ginaRow), state: 'sent', destination: 'gina' });
    expect(await findTimelineLine(env.db, batchLineId(batchId, 1))).toMatchObject({ state: 'failed', destination: 'hal' });
    expect(await findTimelineLine(env.db, batchLineId(batchId, 2))).toMatchObject({ id: batchLineId(batchId, 2), state: 'pending', destination: 'ivy' });
    expect(await findTimelineLine(env.db, batchLineId(batchId, 3))).toBeNull();
    expect(await findTimelineLine(env.db, batchLineId(batchId + 1000n, 0))).toBeNull();

    // Once written, the batch stands for nobody: every line is a row's.
    await inboxRow('fanned', 'ivy');
    await markBatchesWritten(env.db, [{ tenantId: 'acme', eventId: 'fanned', batch: 0 }]);
    expect(summary(await eventTimeline(env.db, 'acme', 'fanned'))).toEqual(['inapp:gina:sent', 'inapp:hal:failed', 'inapp:ivy:sent']);
    // A written batch's person with no row at all (nothing was left to write) has no line, by either way in.
    await env.db.$client`delete from notifications where event_id = 'fanned' and user_id = 'ivy'`;
    expect(summary(await eventTimeline(env.db, 'acme', 'fanned'))).toEqual(['inapp:gina:sent', 'inapp:hal:failed']);
    expect(await findTimelineLine(env.db, batchLineId(batchId, 2))).toBeNull();
  });

  it('finds a line by its id, an inbox row’s or a stored delivery’s, and nothing for an id with no row', async () => {
    const rowId = await inboxRow('lookup', 'frank');
    const stored = await deliveryRow('lookup', 'webhook', 'rule:r1', 'failed');
    expect(await findTimelineLine(env.db, inboxLineId(rowId))).toMatchObject({ channel: 'inapp', destination: 'frank', tenantId: 'acme', eventId: 'lookup', state: 'sent' });
    expect(await findTimelineLine(env.db, stored)).toMatchObject({ id: stored, channel: 'webhook', state: 'failed' });
    expect(await findTimelineLine(env.db, inboxLineId(rowId + 1000n))).toBeNull();
    expect(await findTimelineLine(env.db, '00000000-0000-4000-8000-000000000000')).toBeNull();
  });
});

describe('inbox line ids', () => {
  it('carry the inbox row’s id, all 63 bits of it, in a version 8 UUID, and no other id reads as one', () => {
    for (const id of [1n, 255n, 2n ** 40n, 2n ** 48n - 1n, 2n ** 48n, 2n ** 63n - 1n]) {
      const lineId = inboxLineId(id);
      expect(lineId).toMatch(/^[0-9a-f]{8}-0000-8000-8000-[0-9a-f]{12}$/);
      expect(notificationIdOfLine(lineId)).toBe(id);
      expect(notificationIdOfLine(lineId.toUpperCase())).toBe(id);
    }
    expect(notificationIdOfLine('0190f3a2-7c4e-7a1b-8c2d-3e4f5a6b7c8d')).toBeNull();
    expect(notificationIdOfLine('00000000-0000-8000-8000-00000000000g')).toBeNull();
    expect(notificationIdOfLine('00000000-0000-8000-8000-0000000000001')).toBeNull();
    expect(inboxLineId(2n ** 48n)).toBe('00000001-0000-8000-8000-000000000000');
  });

  it('keep a batch recipient’s line apart: its own marker and index, never read as an inbox row’s', () => {
    expect(batchLineId(2n ** 48n + 5n, 999)).toBe('00000001-0001-83e7-8000-000000000005');
    expect(notificationIdOfLine(batchLineId(7n, 0))).toBeNull();
    expect(batchLineId(7n, 0)).not.toBe(inboxLineId(7n));
    // A batch holds INAPP_BATCH_SIZE people; an index past 12 bits would spill into the marker.
    expect(batchLineId(7n, 4095)).toBe('00000000-0001-8fff-8000-000000000007');
    expect(() => batchLineId(7n, 4096)).toThrow(RangeError);
  });
});
