import { createBenchEnv, createJsonClient, percentile, sleep, waitUntil, type Scenario } from '../harness.ts';
import { ratioOf, type Figure } from '../report.ts';
import { openSse, type SseStream } from '../sseClient.ts';

const RATE = Number(process.env.BENCH_PUBLISH_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_PUBLISH_SECONDS ?? 10);
const USERS = 50;
const DRAIN_TIMEOUT_MS = 20_000;

type Run = { latencies: number[]; received: number; accepted: number; failedPosts: number; sentRate: number };

/**
 * Sends `RATE` events a second for `seconds`, open loop (a slow server does not slow the
 * sender down, so queueing shows up as latency), and waits for their frames. `post(i, sentAt)`
 * publishes event i; `arrivals[i]` is filled in by the stream handlers.
 */
async function drive(
  post: (i: number, sentAt: number) => Promise<boolean>,
  arrivals: Float64Array,
  rate: number,
  seconds: number,
): Promise<Run> {
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
  return { latencies, received: received(), accepted, failedPosts, sentRate };
}

/**
 * Scenario 2. Web, router and in-app worker as child processes (as the Procfile runs them);
 * 50 users, each in a tenant of their own and holding one stream, get the events round-robin.
 * One tenant per user keeps the tenant-wide `event` frame of each publish on the recipient's
 * stream only, so the figure is the notification path, not a 50-way tenant broadcast (that is
 * scenario 4). The send time travels in the event's data; the stream clients and the sender are
 * this process, so one clock measures both ends.
 */
export const publishToFrame: Scenario = {
  name: 'publish-to-frame',
  summary: `${RATE} events/s for ${SECONDS} s, each to one of ${USERS} users holding a stream; POST sent → notification frame received`,
  async run() {
    const env = await createBenchEnv('publish');
    const streams: SseStream[] = [];
    try {
      const userIds = Array.from({ length: USERS }, (_, i) => `p${String(i).padStart(3, '0')}`);
      const tenantOf = (userId: string) => `t_${userId}`;
      await env.sql`insert into tenants (id, name) select 't_' || u, u from unnest(${userIds}::text[]) as u`;
      await env.sql`insert into users (id, email, name, tenant_ids) select u, u || '@bench.example', u, array['t_' || u] from unnest(${userIds}::text[]) as u`;

      const echo = await env.spawn('sse-echo');
      const web = await env.spawn('web');
      await env.spawn('router');
      await env.spawn('inapp');

      // Arrival times by sequence number, per run; the handlers write into whichever is current.
      let arrivals = new Float64Array(0);
      let tag = '';
      const onFrame = (frame: { type: string; data: string }, at: number) => {
        if (frame.type !== 'notification') return;
        const { seq, run } = (JSON.parse(frame.data) as { data: { seq?: number; run?: string } }).data;
        if (run === tag && typeof seq === 'number' && seq < arrivals.length && arrivals[seq] === 0) arrivals[seq] = at;
      };
      for (const userId of userIds) {
        const token = await env.userToken(userId, [tenantOf(userId)]);
        streams.push(await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${token}` }, { onFrame }));
        streams.push(await openSse(`${echo.url}/stream?user=${userId}`, {}, { onFrame }));
      }

      const heraldClient = createJsonClient(web.url, 128);
      const echoClient = createJsonClient(echo.url, 128);
      const postHerald = async (i: number, sentAt: number) => {
        const userId = userIds[i % USERS]!;
        const res = await heraldClient.post('/api/v1/events', {
          id: `${tag}_${i}`,
          type: 'finding_created',
          tenantId: tenantOf(userId),
          severity: 'high',
          assigneeUserIds: [userId],
          data: { title: 'Live one', run: tag, seq: i, sentAt },
        });
        return res.status === 202;
      };
      const postEcho = async (i: number, sentAt: number) => {
        const res = await echoClient.post('/publish', { userId: userIds[i % USERS]!, data: { title: 'Live one', run: tag, seq: i, sentAt } });
        return res.status === 202;
      };
      async function measure(name: string, post: typeof postHerald, rate: number, seconds: number): Promise<Run> {
        tag = name;
        arrivals = new Float64Array(Math.round(rate * seconds));
        return drive(post, arrivals, rate, seconds);
      }

      // Warm-up at a fifth of the rate, then the measured runs.
      // Baseline first, so a Herald backlog can never spill into it.
      await measure('warm_echo', postEcho, RATE / 5, 2);
      await sleep(500);
      const baseline = await measure('echo', postEcho, RATE, SECONDS);
      await measure('warm_herald', postHerald, RATE / 5, 2);
      await sleep(1_000);
      const herald = await measure('herald', postHerald, RATE, SECONDS);
      heraldClient.close();
      echoClient.close();

      const hp50 = percentile(herald.latencies, 50);
      const hp99 = percentile(herald.latencies, 99);
      const bp50 = percentile(baseline.latencies, 50);
      const bp99 = percentile(baseline.latencies, 99);
      const lost = herald.latencies.length - herald.received;
      const note =
        `${herald.received}/${herald.latencies.length} frames within ${DRAIN_TIMEOUT_MS / 1000} s of the last send` +
        (herald.failedPosts ? `, ${herald.failedPosts} POSTs failed` : '') +
        `; sent at ${Math.round(herald.sentRate)}/s; p90 ${percentile(herald.latencies, 90).toFixed(1)} ms, max ${percentile(herald.latencies, 100).toFixed(0)} ms` +
        `; baseline: ${baseline.received}/${baseline.latencies.length} frames`;
      const figures: Figure[] = [
        { name: 'publish-to-frame', metric: 'p50 latency', unit: 'ms', herald: hp50, baseline: bp50, ratio: ratioOf(hp50, bp50), goal: '≤ 10 ms', met: hp50 <= 10 },
        {
          name: 'publish-to-frame',
          metric: 'p99 latency',
          unit: 'ms',
          herald: hp99,
          baseline: bp99,
          ratio: ratioOf(hp99, bp99),
          goal: '≤ 50 ms',
          met: hp99 <= 50 && lost === 0,
          note,
        },
      ];
      return figures;
    } finally {
      for (const s of streams) s.close();
      await env.cleanup();
    }
  },
};
