import { Queue } from 'bullmq';
import { queueCatalog } from '../../src/queues/catalog.ts';
import { createRedis } from '../../src/redis.ts';
import { createJsonClient, median, waitUntil, type BenchEnv, type CpuUse } from '../harness.ts';
import { ratioOf, sharedCpuNote, type Figure } from '../report.ts';

/** Counts what a local receiver (HTTP or SMTP) took, with the time of the last arrival. */
export type Arrivals = { count: number; lastAt: number; reset(): void };

export function createArrivals(): Arrivals {
  const arrivals = {
    count: 0,
    lastAt: 0,
    reset() {
      arrivals.count = 0;
      arrivals.lastAt = 0;
    },
  };
  return arrivals;
}

/** Whether a role module loads and exports its start function; the reason if not. */
export async function roleUnavailable(load: () => Promise<Record<string, unknown>>, exportName: string): Promise<string | null> {
  try {
    const mod = await load();
    return typeof mod[exportName] === 'function' ? null : `${exportName} is not exported yet`;
  } catch (err) {
    return `the role does not load yet (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`;
  }
}

/**
 * Deliveries each side runs, unmeasured, before its measured run: the worker's and the loop's
 * hot paths compiled, their connections open, as in a service that has been running. With 1,000
 * the webhook worker was still compiling through the measured run (V8's optimizing compiler
 * 20% of its on-CPU samples there, 30–40% while it warmed; perf); over a 10,000-delivery
 * warm-up that share fell to 1–3%, and stayed under 10% in the measured run.
 */
export const WARMUP_COUNT = Number(process.env.BENCH_STAGED_WARMUP ?? 10_000);

/**
 * Measures a channel worker's throughput alone: its queue is paused while `count` events are
 * published (batch endpoint) and routed, then resumed; the clock runs from the resume to the
 * last arrival at the receiver. Intake and routing are thereby left out, as they are from the
 * raw-client baseline.
 */
export async function stagedDeliveries(options: {
  env: BenchEnv;
  webUrl: string;
  queue: 'webhook' | 'email';
  count: number;
  event: (i: number) => Record<string, unknown>;
  arrivals: Arrivals;
  timeoutMs: number;
}): Promise<StagedRun> {
  const { env, arrivals, count } = options;
  const connection = createRedis(env.config.REDIS_URL, 'worker');
  // A webhook's due deliveries are sent by group jobs (src/deliveries/deliveryGroups.ts); one that failed by a job of its own.
  const queues = QUEUES_OF[options.queue].map((name) => new Queue(name, { connection, prefix: env.prefix }));
  const routeQueue = new Queue(queueCatalog.route.name, { connection, prefix: env.prefix });
  const pendingRows = async () =>
    (await env.sql<{ n: number }[]>`select count(*)::int as n from deliveries where channel = ${options.queue} and state = 'pending'`)[0]!.n;
  try {
    await Promise.all(queues.map((queue) => queue.pause()));
    const client = createJsonClient(options.webUrl, 4);
    for (let i = 0; i < count; i += 1_000) {
      const events = Array.from({ length: Math.min(1_000, count - i) }, (_, k) => options.event(i + k));
      const res = await client.post('/api/v1/events/batch', { events });
      if (res.status !== 200) throw new Error(`batch publish answered ${res.status}: ${res.body.slice(0, 300)}`);
    }
    client.close();
    // Routed and enqueued: every delivery pending, and no route job left (a pass enqueues its jobs before its route job completes).
    await waitUntil(
      `${count} ${options.queue} deliveries routed and queued`,
      async () => (await pendingRows()) >= count && (await routeQueue.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active')) === 0,
      60_000,
      100,
    );
    // The worker records each outcome after the receiver answered: that bookkeeping is part of
    // each delivery's cost, so it runs inside the CPU window (and is given a moment). Rows of
    // an earlier run (a warm-up) are not this run's.
    const recordedRows = async () =>
      (await env.sql<{ n: number }[]>`select count(*)::int as n from deliveries where channel = ${options.queue} and state in ('sent', 'delivered')`)[0]!.n;
    const recordedBefore = await recordedRows();
    const resume = () => Promise.all(queues.map((queue) => queue.resume()));
    const { ms, cpu, settled: delivered } = await timeArrivals(env, arrivals, count, `${count} arrivals`, resume, options.timeoutMs, async () => {
      let recorded = 0;
      await waitUntil(
        'delivery rows recorded',
        async () => {
          recorded = (await recordedRows()) - recordedBefore;
          return recorded >= count;
        },
        15_000,
        100,
      ).catch(() => {});
      return recorded;
    });
    return { ms, delivered, cpu };
  } finally {
    await Promise.all([...queues, routeQueue].map((queue) => queue.close()));
    connection.disconnect();
  }
}

/** The queues a channel's staged deliveries wait in. */
const QUEUES_OF = { webhook: [queueCatalog.webhook.name, queueCatalog.webhookGroup.name], email: [queueCatalog.email.name] };

/**
 * Times one run of a baseline loop by what reached the receiver: from the start to the last of
 * `count` arrivals, as Herald's own run is timed, with the CPU it used.
 */
export async function timedArrivals(env: BenchEnv, arrivals: Arrivals, count: number, label: string, run: () => Promise<unknown>): Promise<TimedRun> {
  const { ms, cpu } = await timeArrivals(env, arrivals, count, `${label} arrivals`, run, 10_000, async () => {});
  return { ms, cpu };
}

/**
 * The one clock of both sides: from `start` to the last of `count` arrivals (waited for up to
 * `timeoutMs` after `start` resolves), with the CPU used until `settle` — run after the last
 * arrival — is done. The clock starts inside the CPU window, after the children's readings.
 */
async function timeArrivals<T>(
  env: BenchEnv,
  arrivals: Arrivals,
  count: number,
  what: string,
  start: () => Promise<unknown>,
  timeoutMs: number,
  settle: () => Promise<T>,
): Promise<TimedRun & { settled: T }> {
  arrivals.reset();
  let started = 0;
  const { result: settled, cpu } = await env.cpuOf(async () => {
    started = performance.now();
    await start();
    await waitUntil(what, () => arrivals.count >= count, timeoutMs, 10);
    return settle();
  });
  return { ms: arrivals.lastAt - started, cpu, settled };
}

/**
 * CPU per delivery, which the machine's noise moves far less than the rate: the channel's
 * worker against the raw loop over every measured round, with Postgres, Redis and the whole
 * machine in the note (the receiver and this bench included), so a missed rate says whose time it is.
 */
export function cpuPerDeliveryFigure(options: { name: string; count: number; workerRole: string; rounds: Rounds; loopRole: string }): Figure {
  const { rounds } = options;
  const herald = totalCpu(rounds.herald.map((run) => run.cpu));
  const baseline = totalCpu(rounds.baseline.map((run) => run.cpu));
  const perDelivery = (ms: number) => ms / (options.count * rounds.herald.length);
  const workerMs = perDelivery(herald.byRole[options.workerRole] ?? 0);
  const loopMs = perDelivery(baseline.byRole[options.loopRole] ?? 0);
  const shares = (cpu: CpuUse) => sharedCpuNote(cpu, perDelivery);
  return {
    name: options.name,
    metric: `CPU per delivery, the ${options.workerRole} worker vs the loop`,
    unit: 'ms',
    herald: workerMs,
    baseline: loopMs,
    ratio: ratioOf(workerMs, loopMs),
    goal: 'informational',
    met: null,
    note: `ms per delivery over the ${roundsOf(rounds.herald.length)}: ${shares(herald)} (the loop's runs: ${shares(baseline)})`,
  };
}

/** The CPU of several runs added up. */
function totalCpu(runs: CpuUse[]): CpuUse {
  const total: CpuUse = { byRole: {}, services: { postgres: 0, redis: 0 }, machineSeconds: 0 };
  for (const run of runs) {
    for (const [role, ms] of Object.entries(run.byRole)) total.byRole[role] = (total.byRole[role] ?? 0) + ms;
    total.services.postgres += run.services.postgres;
    total.services.redis += run.services.redis;
    total.machineSeconds += run.machineSeconds;
  }
  return total;
}

/** A timed run and the CPU it used. */
export type TimedRun = { ms: number; cpu: CpuUse };
/** Herald's staged run: timed, with the delivery rows it recorded as done. */
export type StagedRun = TimedRun & { delivered: number };

/**
 * Measured rounds of each side. The machine's speed drifts within a scenario's minute and the
 * raw loop's own rate moved by a quarter either way between runs (3,849–6,560 deliveries/s over
 * 42 webhook runs on one box), so one Herald run against one loop run made the ratio a coin toss
 * around its goal. Rounds alternate which side goes first (Herald then the loop, the loop then
 * Herald, …) so a drift favours neither, and the figure is the median round's (the harness's
 * nearest-rank median: with an even count, the lower of the two middle ones). BENCH_STAGED_ROUNDS sets the count.
 */
export const MEASURED_ROUNDS = positiveInteger(process.env.BENCH_STAGED_ROUNDS, 3);

const roundsOf = (n: number) => (n === 1 ? 'one round' : `${n} rounds`);

function positiveInteger(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** Each side's measured runs, round by round, and which side went first in each. */
export type Rounds = { herald: StagedRun[]; baseline: TimedRun[]; heraldFirst: boolean[] };

/** Runs `rounds` rounds of both sides, alternating which goes first (see MEASURED_ROUNDS). */
export async function alternatingRounds(
  sides: { herald: (round: number) => Promise<StagedRun>; baseline: (round: number) => Promise<TimedRun> },
  rounds: number = MEASURED_ROUNDS,
): Promise<Rounds> {
  const result: Rounds = { herald: [], baseline: [], heraldFirst: [] };
  for (let round = 0; round < rounds; round++) {
    const herald = async () => void result.herald.push(await sides.herald(round));
    const baseline = async () => void result.baseline.push(await sides.baseline(round));
    const heraldFirst = round % 2 === 0;
    result.heraldFirst.push(heraldFirst);
    for (const side of heraldFirst ? [herald, baseline] : [baseline, herald]) await side();
  }
  return result;
}

/**
 * The throughput row of a staged channel scenario: Herald's rate against the raw loop's in the
 * round whose ratio is the median, goal ≥ `goalRatio`× and every delivery of every round
 * recorded; the note gives every round.
 */
export function throughputFigure(options: {
  name: string;
  metric: { metric: string; unit: string; goal: string };
  goalRatio: number;
  count: number;
  rounds: Rounds;
  /** What the note says after the rounds. */
  detail: string;
}): Figure {
  const { count, rounds } = options;
  const rate = (run: TimedRun) => count / (run.ms / 1000);
  const pairs = rounds.herald.map((herald, i) => {
    const [heraldRate, baselineRate] = [rate(herald), rate(rounds.baseline[i]!)];
    return { heraldRate, baselineRate, ratio: ratioOf(heraldRate, baselineRate), first: rounds.heraldFirst[i] ? 'Herald' : 'the loop' };
  });
  const ratioOfPair = (pair: (typeof pairs)[number]) => pair.ratio ?? -Infinity;
  const middle = median(pairs.map(ratioOfPair));
  const chosen = pairs.find((pair) => ratioOfPair(pair) === middle)!;
  const allDelivered = rounds.herald.every((run) => run.delivered >= count);
  const perRound = pairs.map((p, i) => `${i + 1}. ${Math.round(p.heraldRate)} vs ${Math.round(p.baselineRate)} (${p.ratio === null ? '—' : p.ratio.toFixed(3)}×, ${p.first} first)`);
  return {
    name: options.name,
    ...options.metric,
    herald: chosen.heraldRate,
    baseline: chosen.baselineRate,
    ratio: chosen.ratio,
    met: chosen.ratio !== null && chosen.ratio >= options.goalRatio && allDelivered,
    note: `the median of ${roundsOf(pairs.length)} of ${count} a side, del/s: ${perRound.join('; ')}; delivery rows recorded done per round: ${rounds.herald.map((run) => run.delivered).join(', ')}; ${options.detail}`,
  };
}
