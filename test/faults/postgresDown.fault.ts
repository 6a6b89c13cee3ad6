import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Web } from '../../src/http/web.ts';
import { publishTimed, tally, type EventSpec, type TimedAnswer } from './harness/publish.ts';
import { checkInbox, openInboxWorld, report, settle, sleep, type FaultWorld } from './harness/scenario.ts';

/**
 * Postgres stopped: intake answers 503 within 5 s (never 202: nothing can be stored), /readyz
 * says Postgres is the one down, and once Postgres is back the same processes recover — intake
 * answers 202 again and every accepted event is delivered — without a restart.
 */

const DEADLINE_MS = 5_000;
const LANES = 4;
const USERS = Array.from({ length: 10 }, (_, i) => `u${i}`);

let world: FaultWorld;
let web: Web;

beforeAll(async () => {
  ({ world, web } = await openInboxWorld({ OUTBOX_SWEEP_AFTER_SECONDS: '1' }, USERS));
});

afterAll(() => world?.close());

type Readiness = { status: number | 'hang'; ms: number; body: { checks?: { postgres?: string; redis?: string } } | null };

async function readyz(): Promise<Readiness> {
  const started = performance.now();
  try {
    const res = await fetch(`${web.url}/readyz`, { signal: AbortSignal.timeout(DEADLINE_MS + 1_000) });
    return { status: res.status, ms: performance.now() - started, body: (await res.json()) as Readiness['body'] };
  } catch {
    return { status: 'hang', ms: performance.now() - started, body: null };
  }
}

it('Postgres down: 503 within 5 s and /readyz names it; after it returns Herald recovers without a restart', async () => {
  const { env, services } = world;
  let n = 0;
  const event = (): EventSpec => {
    const i = n++;
    return { id: `pd_${i}`, tenantId: 'acme', type: 'finding_created', assigneeUserIds: [USERS[i % 10]!, USERS[(i + 5) % 10]!] };
  };
  const publish = () => publishTimed(web.url, event(), DEADLINE_MS + 1_000);
  const answers: (TimedAnswer & { phase: string })[] = [];

  for (let i = 0; i < 20; i++) answers.push({ ...(await publish()), phase: 'before' });

  await services.stopPostgres();
  const downUntil = Date.now() + 6_000;
  const probes: Readiness[] = [];
  await Promise.all([
    ...Array.from({ length: LANES }, async () => {
      while (Date.now() < downUntil) answers.push({ ...(await publish()), phase: 'down' });
    }),
    (async () => {
      while (Date.now() < downUntil) {
        probes.push(await readyz());
        await sleep(500);
      }
    })(),
  ]);

  await services.startPostgres();
  const backAt = Date.now();
  // The same web process, router and in-app worker: no restart. Publish until intake takes events again.
  let firstAccepted: number | null = null;
  while (Date.now() - backAt < 30_000) {
    const answer = await publish();
    answers.push({ ...answer, phase: 'back' });
    if (answer.status === 202) {
      firstAccepted = Date.now() - backAt;
      break;
    }
    await sleep(100);
  }
  for (let i = 0; i < 20; i++) answers.push({ ...(await publish()), phase: 'after' });
  const readyAfter = await settle(readyz, (r) => r.status === 200, 15_000);

  const down = answers.filter((a) => a.phase === 'down');
  const downWrong = down.filter((a) => a.status !== 503 || a.ms > DEADLINE_MS);
  const probesWrong = probes.filter((p) => p.status !== 503 || p.ms > DEADLINE_MS || p.body?.checks?.postgres !== 'down' || p.body.checks.redis !== 'ok');
  const accepted = answers.filter((a) => a.status === 202);
  const expectedInbox = accepted.flatMap((a) => {
    const i = Number(a.id.slice(3));
    return [USERS[i % 10]!, USERS[(i + 5) % 10]!].map((userId) => ({ eventId: a.id, userId }));
  });
  const inbox = await settle(() => checkInbox(env, expectedInbox), (c) => c.lost === 0, 60_000);

  report('postgres-down', {
    'while down': `${down.length} answers ${JSON.stringify(tally(down))}, slowest ${Math.round(Math.max(...down.map((a) => a.ms)))} ms`,
    readyz: `${probes.length} probes ${JSON.stringify(probes[0]?.body?.checks ?? null)}, slowest ${Math.round(Math.max(...probes.map((p) => p.ms)))} ms`,
    'accepting again': firstAccepted === null ? 'never' : `${firstAccepted} ms after Postgres returned`,
    accepted: accepted.length,
    delivered: inbox.delivered / 2,
    lost: inbox.lost,
  });
  expect(down.length).toBeGreaterThan(0);
  expect(downWrong.map((a) => `${a.id}: ${a.status} in ${Math.round(a.ms)} ms`), 'answers while down other than a 503 within 5 s').toEqual([]);
  expect(probes.length).toBeGreaterThan(0);
  expect(probesWrong, '/readyz while down').toEqual([]);
  expect(firstAccepted, 'intake accepting again after Postgres returned').not.toBeNull();
  expect(answers.filter((a) => a.phase === 'after' && a.status !== 202), 'answers after recovery').toEqual([]);
  expect(readyAfter.status).toBe(200);
  expect(inbox.lostSample, 'accepted events missing from inboxes').toEqual([]);
}, 150_000);
