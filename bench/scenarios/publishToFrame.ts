import { createBenchEnv, createJsonClient, percentile, sleep, waitUntil, type CpuUse, type Scenario } from '../harness.ts';
import { ratioOf, roundTripsFigure, type Figure, type StepWork } from '../report.ts';
import { RULES_PER_TENANT, seedUnmatchedRules } from '../ruleLoad.ts';
import { openSse, type SseStream } from '../sseClient.ts';

const SECONDS = Number(process.env.BENCH_PUBLISH_SECONDS ?? 10);
const USERS = 200;
const DRAIN_TIMEOUT_MS = 20_000;
/** The steady rates of the table, and the steps of the capacity search. */
const STEADY_RATES = [200, 1_000];
const CAPACITY_STEPS = [250, 500, 1_000, 2_000, 4_000];
const CAPACITY_SECONDS = Number(process.env.BENCH_CAPACITY_SECONDS ?? 5);
const CAPACITY_P99_MS = 100;
/** The steady rate that is run a second time for tenants with RULES_PER_TENANT rules each (issue #16). */
const RULES_RATE = 200;
/**
 * Users, and tenants, added to the directory before a last run of the RULES_RATE step: the
 * intake and a routing pass must read only the tenants and users they name, so a
 * production-sized directory costs them nothing (the bench's own 400 tenants and 200 users would
 * hide a statement that reads them all).
 */
const DIRECTORY_USERS = 100_000;
const DIRECTORY_TENANTS = 20_000;
/** The most the large directory's step may cost Postgres per event, against the same step with the bench's users alone. */
const DIRECTORY_CPU_RATIO_MAX = 1.2;
const EVENT_TYPE = 'finding_created';
/**
 * Traffic before the first measured step (see the warm-up in run): windows of
 * WARMUP_WINDOW_SECONDS at WARMUP_RATE, each one's cost per event in the warm-up row's note.
 */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 60);
const WARMUP_WINDOW_SECONDS = 10;
const WARMUP_RATE = 200;

type Run = { rate: number; latencies: number[]; received: number; accepted: number; failedPosts: number; sentRate: number };
/** A run with the CPU time the processes spent on it (from its first send until a second after its last frame). */
type TimedRun = Run & { cpu: CpuUse };
/** A run with the database work it caused. */
type CountedStep = { run: TimedRun; work: StepWork };

/**
 * Sends `rate` events a second for `seconds`, open loop (a slow server does not slow the sender
 * down, so queueing shows up as latency), and waits for their frames. `post(i, sentAt)`
 * publishes event i; `arrivals[i]` is filled in by the stream handlers.
 */
async function drive(post: (i: number, sentAt: number) => Promise<boolean>, arrivals: Float64Array, rate: number, seconds: number): Promise<Run> {
  const total = Math.round(rate * seconds);
  const sentAt = new Float64Array(total);
  let sent = 0;
  let accepted = 0;
  let failedPosts = 0;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      while (sent < due) {
        const i = sent++;
        sentAt[i] = performance.now();
        inFlight.push(
          post(i, sentAt[i]).then(
            (ok) => void (ok ? accepted++ : failedPosts++),
            () => void failedPosts++,
          ),
        );
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const sentRate = total / ((performance.now() - start) / 1000);
  await Promise.all(inFlight);
  const received = () => arrivals.reduce((n, at) => (at > 0 ? n + 1 : n), 0);
  await waitUntil('frames', () => received() >= accepted, DRAIN_TIMEOUT_MS, 50).catch(() => {});
  const latencies = Array.from(sentAt, (at, i) => (arrivals[i]! > 0 ? arrivals[i]! - at : Number.POSITIVE_INFINITY));
  return { rate, latencies, received: received(), accepted, failedPosts, sentRate };
}

const lostIn = (run: Run) => run.latencies.length - run.received;

type Goal = { p50: number; p99: number };

/** The p50 and p99 rows of one step, against a baseline step of the same run. */
function latencyFigures(label: string, herald: Run, baseline: Run, goal: Goal, baselineName: string): Figure[] {
  const [hp50, hp99, bp50, bp99] = [percentile(herald.latencies, 50), percentile(herald.latencies, 99), percentile(baseline.latencies, 50), percentile(baseline.latencies, 99)];
  return [
    { name: 'publish-to-frame', metric: `${label} p50 latency`, unit: 'ms', herald: hp50, baseline: bp50, ratio: ratioOf(hp50, bp50), goal: `≤ ${goal.p50} ms`, met: hp50 <= goal.p50 },
    {
      name: 'publish-to-frame',
      metric: `${label} p99 latency`,
      unit: 'ms',
      herald: hp99,
      baseline: bp99,
      ratio: ratioOf(hp99, bp99),
      goal: `≤ ${goal.p99} ms, 0 lost`,
      met: hp99 <= goal.p99 && lostIn(herald) === 0,
      note: `${describeRun(herald)}; baseline (${baselineName}): ${baseline.received}/${baseline.latencies.length} frames`,
    },
  ];
}

/** The baseline's process; every other child of the scenario is one of Herald's. */
const ECHO_ROLE = 'sse-echo';

/** Milliseconds of a run per event it accepted. */
const perEvent = (ms: number, run: Run) => ms / Math.max(1, run.accepted);

/** The CPU time (ms) of each of Herald's processes in a run: every child but the baseline's. */
const heraldRoles = (run: TimedRun) => Object.entries(run.cpu.byRole).filter(([role]) => role !== ECHO_ROLE);
const heraldCpuMs = (run: TimedRun) => heraldRoles(run).reduce((sum, [, ms]) => sum + ms, 0);

/**
 * CPU time per event, which the machine's noise moves far less than latency: Herald's
 * processes together against the echo server's, with each role's share, Postgres's and Redis's,
 * and the whole machine's (this bench's sender and 400 stream readers included) in the note.
 */
function cpuFigure(label: string, herald: TimedRun, baseline: TimedRun): Figure {
  const roles = heraldRoles(herald);
  const heraldMs = perEvent(heraldCpuMs(herald), herald);
  const echoMs = perEvent(baseline.cpu.byRole[ECHO_ROLE] ?? 0, baseline);
  const byRole = roles
    .map(([role, ms]) => [role, perEvent(ms, herald)] as const)
    .sort((a, b) => b[1] - a[1])
    .map(([role, ms]) => `${role} ${ms.toFixed(3)}`)
    .join(', ');
  return {
    name: 'publish-to-frame',
    metric: `${label} CPU per event, Herald's processes`,
    unit: 'ms',
    herald: heraldMs,
    baseline: echoMs,
    ratio: ratioOf(heraldMs, echoMs),
    goal: 'informational',
    met: null,
    note:
      `ms per event by role: ${byRole}; Postgres ${perEvent(herald.cpu.services.postgres, herald).toFixed(3)}, Redis ${perEvent(herald.cpu.services.redis, herald).toFixed(3)}; ` +
      `the whole machine ${perEvent(herald.cpu.machineSeconds * 1000, herald).toFixed(2)} ms per event (baseline's step ${perEvent(baseline.cpu.machineSeconds * 1000, baseline).toFixed(2)})`,
  };
}

/**
 * The RULES_RATE step again with DIRECTORY_USERS more users in DIRECTORY_TENANTS more tenants,
 * against the first run of that step: its latency, and Postgres's CPU per event, which shows a
 * statement that reads a whole table long before latency does.
 */
function directoryFigures(large: TimedRun, plain: TimedRun, goal: Goal): Figure[] {
  const label = `${RULES_RATE}/s with ${DIRECTORY_USERS.toLocaleString('en-US')} more users in ${DIRECTORY_TENANTS.toLocaleString('en-US')} more tenants`;
  const [largeMs, plainMs] = [perEvent(large.cpu.services.postgres, large), perEvent(plain.cpu.services.postgres, plain)];
  const ratio = ratioOf(largeMs, plainMs);
  return [
    ...latencyFigures(label, large, plain, goal, `the same step with the bench's ${USERS} users alone`),
    {
      name: 'publish-to-frame',
      metric: `${label}: Postgres CPU per event`,
      unit: 'ms',
      herald: largeMs,
      baseline: plainMs,
      ratio,
      goal: `≤ ${DIRECTORY_CPU_RATIO_MAX}× the step without them`,
      met: ratio !== null && ratio <= DIRECTORY_CPU_RATIO_MAX,
      note: `Herald's processes ${perEvent(heraldCpuMs(large), large).toFixed(3)} ms per event against ${perEvent(heraldCpuMs(plain), plain).toFixed(3)}`,
    },
  ];
}

function describeRun(run: Run): string {
  return (
    `${run.received}/${run.latencies.length} frames within ${DRAIN_TIMEOUT_MS / 1000} s of the last send` +
    (run.failedPosts ? `, ${run.failedPosts} POSTs failed` : '') +
    `; sent at ${Math.round(run.sentRate)}/s; p90 ${percentile(run.latencies, 90).toFixed(1)} ms, max ${percentile(run.latencies, 100).toFixed(0)} ms`
  );
}

/**
 * Scenario 2. Every process of the Procfile as its own child (web, router, every channel
 * worker, the bus listener), as `npm start` runs them; 200 users, each in a tenant of their own
 * and holding one stream, get the events round-robin. One tenant per user keeps the tenant-wide
 * `event` frame of each publish on the recipient's stream only, so the figure is the
 * notification path, not a 200-way tenant broadcast (that is scenario 4). The send time travels
 * in the event's data; the stream clients and the sender are this process, so one clock
 * measures both ends. The baseline is a bare in-memory SSE server fed over Redis pub/sub,
 * driven the same way at the same rates.
 *
 * Issue #16: every user is also the one user of a twin tenant holding RULES_PER_TENANT rules
 * that never match the events (bench/ruleLoad.ts). Right after the RULES_RATE step, the
 * same step is run again with the events in the twin tenants; both count the router's Postgres
 * round trips per routing pass (and the database's transactions), so the table shows whether
 * the rules cost round trips as well as latency.
 *
 * Issue #13: last of all, DIRECTORY_TENANTS more tenants with DIRECTORY_USERS users join the
 * directory and the RULES_RATE step is run once more, so the table shows whether an event's cost
 * grows with the directory rather than with what the event names.
 */
export const publishToFrame: Scenario = {
  name: 'publish-to-frame',
  summary: `${STEADY_RATES.join(' and ')} events/s for ${SECONDS} s to ${USERS} users holding a stream, then capacity steps and ${RULES_RATE}/s with a large directory; POST sent → notification frame received`,
  async run() {
    const env = await createBenchEnv('publish');
    const streams: SseStream[] = [];
    try {
      const userIds = Array.from({ length: USERS }, (_, i) => `p${String(i).padStart(3, '0')}`);
      const tenantOf = (userId: string) => `t_${userId}`;
      const ruledTenantOf = (userId: string) => `r_${userId}`;
      await env.sql`insert into tenants (id, name) select p || u, u from unnest(${userIds}::text[]) as u, unnest(array['t_', 'r_']) as p`;
      await env.sql`insert into users (id, email, name, tenant_ids) select u, u || '@bench.example', u, array['t_' || u, 'r_' || u] from unnest(${userIds}::text[]) as u`;

      const echo = await env.spawn(ECHO_ROLE);
      const web = await env.spawnPipeline();
      await seedUnmatchedRules(env, web, userIds.map(ruledTenantOf), EVENT_TYPE);

      // Arrival times by sequence number, per run; the handlers write into whichever is current.
      let arrivals = new Float64Array(0);
      let tag = '';
      const onFrame = (frame: { type: string; data: string }, at: number) => {
        if (frame.type !== 'notification') return;
        const { seq, run } = (JSON.parse(frame.data) as { data: { seq?: number; run?: string } }).data;
        if (run === tag && typeof seq === 'number' && seq < arrivals.length && arrivals[seq] === 0) arrivals[seq] = at;
      };
      for (const userId of userIds) {
        const token = await env.userToken(userId, [tenantOf(userId), ruledTenantOf(userId)]);
        streams.push(await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${token}` }, { onFrame }));
        streams.push(await openSse(`${echo.url}/stream?user=${userId}`, {}, { onFrame }));
      }

      const heraldClient = createJsonClient(web.url, 128);
      const echoClient = createJsonClient(echo.url, 128);
      const postTo = (tenantFor: (userId: string) => string) => async (i: number, sentAt: number) => {
        const userId = userIds[i % USERS]!;
        const res = await heraldClient.post('/api/v1/events', {
          id: `${tag}_${i}`,
          type: EVENT_TYPE,
          tenantId: tenantFor(userId),
          severity: 'high',
          assigneeUserIds: [userId],
          data: { title: 'Live one', run: tag, seq: i, sentAt },
        });
        return res.status === 202;
      };
      const postHerald = postTo(tenantOf);
      const postRuled = postTo(ruledTenantOf);
      const postEcho = async (i: number, sentAt: number) => {
        const res = await echoClient.post('/publish', { userId: userIds[i % USERS]!, data: { title: 'Live one', run: tag, seq: i, sentAt } });
        return res.status === 202;
      };
      async function measure(name: string, post: typeof postHerald, rate: number, seconds: number): Promise<TimedRun> {
        tag = name;
        arrivals = new Float64Array(Math.round(rate * seconds));
        const { result: run, cpu } = await env.cpuOf(async () => {
          const run = await drive(post, arrivals, rate, seconds);
          await sleep(1_000);
          return run;
        });
        return { ...run, cpu };
      }

      // The baselines first, so a Herald backlog can never spill into them; then Herald's
      // warm-up, and its measured steps right after it, as a service under steady traffic runs.
      await measure('warm_echo', postEcho, 200, 2);
      const baselines = new Map<number, TimedRun>();
      for (const rate of STEADY_RATES) baselines.set(rate, await measure(`echo_${rate}`, postEcho, rate, SECONDS));
      // Herald's processes need traffic after they start before they run at their steady pace:
      // V8 compiles the hot paths once they have run often enough, each pooled connection
      // prepares its statements. At 200 events/s on a slower box, optimizing compilation was
      // still a fifth of the router's CPU 10–20 s in and settled only after ~30 s (perf, the
      // router's on-CPU samples by 10 s window: 23%, 17%, 7%, 1.3%, then ~1%), so a 12 s warm-up
      // measured the first step while it compiled. The figures are of a running service; each
      // window's cost is reported, so a run shows whether the processes had settled. A minute,
      // not less: the router's templates, first read as the warm-up starts, expire after one
      // (createCachedTemplateSource), and their reloads belong in the warm-up, not in the
      // measured step whose round trips per pass are compared with the rules step's.
      const warmUp: { perEvent: number; p50: number }[] = [];
      for (let window = 0; window * WARMUP_WINDOW_SECONDS < WARMUP_SECONDS; window++) {
        const run = await measure(`warm_herald_${window}`, postHerald, WARMUP_RATE, Math.min(WARMUP_WINDOW_SECONDS, WARMUP_SECONDS - window * WARMUP_WINDOW_SECONDS));
        warmUp.push({ perEvent: perEvent(heraldCpuMs(run), run), p50: percentile(run.latencies, 50) });
      }
      /**
       * Two seconds at a step's rate right before it: the router's caches then hold what the
       * step needs (the tenants' rules, and their templates, which expire after a minute), as
       * they do in a router that has been running, and the step does not start from a lull.
       */
      const warmStep = (name: string, post: typeof postHerald, rate: number) => measure(`warm_${name}`, post, rate, 2);
      /**
       * A step with the database work it caused. databaseWorkOf waits 11 s for Postgres's
       * counters before it reads them, so the step's own warm-up runs inside it: run before, it
       * left the 200/s step to start after 11 s of nothing, which is what the step then measured.
       * The counts cover that warm-up, and so do the events they are divided by; one more before
       * the count makes the first reads of the step's tenants' rules and templates, which are not
       * the step's (the rules step's tenants are new to the router).
       */
      async function countedStep(name: string, post: typeof postHerald, rate: number): Promise<CountedStep> {
        await warmStep(`${name}_caches`, post, rate);
        const { result, work } = await env.databaseWorkOf(async () => {
          const warm = await warmStep(name, post, rate);
          return { warm, run: await measure(name, post, rate, SECONDS) };
        });
        return { run: result.run, work: { work, events: result.warm.accepted + result.run.accepted } };
      }
      const steady: { baseline: TimedRun; herald: TimedRun }[] = [];
      let withRules: { plain: CountedStep; ruled: CountedStep } | undefined;
      for (const rate of STEADY_RATES) {
        const baseline = baselines.get(rate)!;
        if (rate === RULES_RATE) {
          const plain = await countedStep(`herald_${rate}`, postHerald, rate);
          withRules = { plain, ruled: await countedStep(`rules_${rate}`, postRuled, rate) };
          steady.push({ baseline, herald: plain.run });
        } else {
          await warmStep(`herald_${rate}`, postHerald, rate);
          steady.push({ baseline, herald: await measure(`herald_${rate}`, postHerald, rate, SECONDS) });
        }
      }

      // Capacity: the highest step at which p99 stays within bounds with nothing lost.
      const steps: Run[] = [];
      for (const rate of CAPACITY_STEPS) {
        const run = await measure(`cap_${rate}`, postHerald, rate, CAPACITY_SECONDS);
        steps.push(run);
        await sleep(2_000);
        if (percentile(run.latencies, 99) > CAPACITY_P99_MS || lostIn(run) > 0) break;
      }
      // Last, so no step before it runs with the large directory: the same step as the first
      // RULES_RATE one, for the same tenants, with DIRECTORY_TENANTS more tenants holding
      // DIRECTORY_USERS more users.
      await env.sql`insert into tenants (id, name) select 'd_' || n, 'Directory ' || n from generate_series(0, ${DIRECTORY_TENANTS - 1}) as n`;
      await env.sql`
        insert into users (id, email, name, tenant_ids, roles)
        select 'dir' || n, 'dir' || n || '@bench.example', 'Directory ' || n, array['d_' || (n % ${DIRECTORY_TENANTS})],
          jsonb_build_object('d_' || (n % ${DIRECTORY_TENANTS}), '["member"]'::jsonb)
        from generate_series(1, ${DIRECTORY_USERS}) as n`;
      await warmStep(`directory_${RULES_RATE}`, postHerald, RULES_RATE);
      const largeDirectory = await measure(`directory_${RULES_RATE}`, postHerald, RULES_RATE, SECONDS);
      heraldClient.close();
      echoClient.close();

      const goals: Record<number, Goal> = { 200: { p50: 10, p99: 30 }, 1000: { p50: 20, p99: 100 } };
      const figures: Figure[] = steady.flatMap(({ baseline, herald }) => [
        ...latencyFigures(`${herald.rate}/s`, herald, baseline, goals[herald.rate]!, 'Redis pub/sub echo'),
        cpuFigure(`${herald.rate}/s`, herald, baseline),
      ]);
      if (withRules) {
        const { plain, ruled } = withRules;
        const label = `${RULES_RATE}/s with ${RULES_PER_TENANT} rules/tenant`;
        figures.push(
          ...latencyFigures(label, ruled.run, plain.run, goals[RULES_RATE]!, 'the same step for tenants without rules'),
          roundTripsFigure('publish-to-frame', `${RULES_RATE}/s: router round trips per routing pass, ${RULES_PER_TENANT} rules/tenant vs none`, ruled.work, plain.work),
        );
      }
      if (withRules) figures.push(...directoryFigures(largeDirectory, withRules.plain.run, goals[RULES_RATE]!));
      const passed = steps.filter((run) => percentile(run.latencies, 99) <= CAPACITY_P99_MS && lostIn(run) === 0);
      const capacity = passed.length > 0 ? passed[passed.length - 1]!.rate : 0;
      figures.push({
        name: 'publish-to-frame',
        metric: `capacity (p99 ≤ ${CAPACITY_P99_MS} ms, 0 lost)`,
        unit: 'ev/s',
        herald: capacity,
        baseline: null,
        ratio: null,
        goal: 'informational',
        met: null,
        note: steps.map((run) => `${run.rate}/s: p50 ${percentile(run.latencies, 50).toFixed(1)} ms, p99 ${percentile(run.latencies, 99).toFixed(1)} ms, lost ${lostIn(run)}`).join('; '),
      });
      const [firstWindow, lastWindow] = [warmUp[0]!, warmUp.at(-1)!];
      figures.push({
        name: 'publish-to-frame',
        metric: `warm-up: Herald's CPU per event in its last ${WARMUP_WINDOW_SECONDS} s at ${WARMUP_RATE}/s vs its first`,
        unit: 'ms',
        herald: lastWindow.perEvent,
        baseline: firstWindow.perEvent,
        ratio: ratioOf(lastWindow.perEvent, firstWindow.perEvent),
        goal: 'informational',
        met: null,
        note: `${WARMUP_SECONDS} s before the first measured step, by ${WARMUP_WINDOW_SECONDS} s window: ${warmUp.map((w) => `${w.perEvent.toFixed(3)} ms per event, p50 ${w.p50.toFixed(1)} ms`).join('; ')}`,
      });
      return figures;
    } finally {
      for (const s of streams) s.close();
      await env.cleanup();
    }
  },
};
