import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Web } from '../../src/http/web.ts';
import { publishTimed, tally, type EventSpec, type TimedAnswer } from './harness/publish.ts';
import { checkInbox, openInboxWorld, report, settle, sleep, type FaultWorld } from './harness/scenario.ts';

/**
 * Redis stopped during intake: every answer is a 202 or a 503 within 5 s, never a hang, and
 * every 202 is delivered once Redis is back (it comes back empty: no persistence).
 */

const DEADLINE_MS = 5_000;
const LANES = 8;
const PACE_MS = 50;
const USERS = Array.from({ length: 10 }, (_, i) => `u${i}`);

let world: FaultWorld;
let web: Web;

beforeAll(async () => {
  ({ world, web } = await openInboxWorld({ OUTBOX_SWEEP_AFTER_SECONDS: '1' }, USERS));
});

afterAll(() => world?.close());

it('Redis down during intake: 202 or 503 within 5 s, and every 202 delivered after Redis returns', async () => {
  const { env, services } = world;
  const answers: (TimedAnswer & { phase: string })[] = [];
  let phase = 'up';
  let publishing = true;
  let n = 0;
  const event = (): EventSpec => {
    const i = n++;
    return { id: `rd_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: [USERS[i % 10]!, USERS[(i + 5) % 10]!] };
  };
  // Publishers keep going through the whole outage, each waiting for its answer before the next
  // and pacing itself, so what was accepted can be delivered in a bounded time afterwards.
  const lanes = Array.from({ length: LANES }, async () => {
    while (publishing) {
      const current = phase;
      answers.push({ ...(await publishTimed(web.url, event(), DEADLINE_MS + 1_000)), phase: current });
      await sleep(PACE_MS);
    }
  });

  await sleep(1_500);
  phase = 'stopping';
  await services.stopRedis();
  phase = 'down';
  await sleep(6_000);
  phase = 'starting';
  await services.startRedis();
  phase = 'back';
  await sleep(2_000);
  publishing = false;
  await Promise.all(lanes);
  const redisBackAt = Date.now();

  const accepted = answers.filter((a) => a.status === 202);
  const unexpected = answers.filter((a) => a.status !== 202 && a.status !== 503);
  const slow = answers.filter((a) => a.ms > DEADLINE_MS);
  const expectedInbox = accepted.flatMap((a) => {
    const i = Number(a.id.slice(3));
    return [USERS[i % 10]!, USERS[(i + 5) % 10]!].map((userId) => ({ eventId: a.id, userId }));
  });
  const inbox = await settle(() => checkInbox(env, expectedInbox), (c) => c.lost === 0, 90_000);
  const down = answers.filter((a) => a.phase === 'down');

  report('redis-down', {
    answers: answers.length,
    'while down': `${down.length} (${JSON.stringify(tally(down))})`,
    statuses: JSON.stringify(tally(answers)),
    'slowest answer': `${Math.round(Math.max(...answers.map((a) => a.ms)))} ms`,
    'over 5 s': slow.length,
    accepted: accepted.length,
    delivered: inbox.delivered / 2,
    lost: inbox.lost,
    'delivered in': `${((Date.now() - redisBackAt) / 1000).toFixed(1)} s after intake stopped`,
  });
  expect(down.length, 'requests answered while Redis was down').toBeGreaterThan(0);
  expect(unexpected.map((a) => `${a.id}: ${a.status}`), 'answers other than 202 or 503').toEqual([]);
  expect(slow.map((a) => `${a.id}: ${Math.round(a.ms)} ms`), 'answers slower than 5 s').toEqual([]);
  expect(inbox.lostSample, 'accepted events missing from inboxes').toEqual([]);
}, 150_000);
