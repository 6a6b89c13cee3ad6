import { readFileSync } from 'node:fs';
import { createFramePublisher, type LiveFrame } from '../../src/realtime/liveFrames.ts';
import { createBenchEnv, percentile, readRssKiB, sleep, type BenchEnv, type Child, type Scenario } from '../harness.ts';
import { ratioOf, type Figure } from '../report.ts';
import { mapLimit, openSse } from '../sseClient.ts';

const WANTED = Number(process.env.BENCH_SSE_CONNECTIONS ?? 10_000);
/** Client processes holding the streams; two, so reading a broadcast uses both cores once the server is done. */
const CLIENT_PROCESSES = Number(process.env.BENCH_SSE_CLIENT_PROCESSES ?? 2);
const BROADCASTS = 5;
/**
 * Broadcasts sent first and not measured, on either server. The first broadcast through a server
 * was its slowest in every run (p99 224–234 ms on Herald's API against 163–204 for the four after
 * it, 181–262 against 134–157 on the bare server): the first time its event-frame path ran.
 */
const WARMUP_BROADCASTS = 1;
const OPEN_CONCURRENCY = 100;
const TENANT = 'scale';

/** The soft open-files limit of this process (children inherit it): every stream is one socket on each side. */
function openFilesLimit(): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return !match || match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

type Measured = {
  perConnectionKiB: number;
  /** The V8 heap's share of it. */
  heapPerConnectionKiB: number;
  rssBefore: number;
  rssAfter: number;
  latencies: number[];
  /** Each broadcast's p99 arrival, in order. */
  p99ByBroadcast: number[];
  openSeconds: number;
  /** Broadcast frames that never reached a stream asked for: late, on a stream closed since it opened, or on one never live. */
  missing: number;
  /** Of `missing`: on streams that had opened and closed before the frame came. */
  missingClosed: number;
  /** Of `missing`: on streams that never went live. */
  missingNeverLive: number;
  /** Streams that did not become live: refused, or answered 200 and closed before their first frame. */
  broken: number;
  live: number;
};

/**
 * Opens one stream per entry of `headers` on one server process, spread over the client
 * processes; reads the server's RSS before and after; then publishes BROADCASTS tenant frames
 * and collects when each live stream received each one.
 */
async function measure(env: BenchEnv, server: Child, clients: Child[], url: string, headers: Record<string, string>[]): Promise<Measured> {
  // Warm the server's paths (JIT, pools) with a few streams, then measure from a settled process.
  const warm = await mapLimit(headers.slice(0, 100), 50, (h) => openSse(url, h, {}).catch(() => null));
  for (const s of warm) s?.close();
  await sleep(1_000);
  const heapBefore = (await server.collectGarbage()).heapUsed;
  const rssBefore = readRssKiB(server.pid);

  const started = performance.now();
  const share = Math.ceil(headers.length / clients.length);
  const opened = await Promise.all(
    clients.map((c, k) =>
      c.request<{ live: number; broken: number }>(
        { type: 'open', url, headers: headers.slice(k * share, (k + 1) * share), concurrency: Math.ceil(OPEN_CONCURRENCY / clients.length) },
        'opened',
        180_000,
      ),
    ),
  );
  const openSeconds = (performance.now() - started) / 1000;
  const live = opened.reduce((n, o) => n + o.live, 0);
  const broken = opened.reduce((n, o) => n + o.broken, 0);
  await sleep(1_000);
  const heapAfter = (await server.collectGarbage()).heapUsed;
  const rssAfter = readRssKiB(server.pid);

  const latencies: number[] = [];
  const p99ByBroadcast: number[] = [];
  let missing = 0;
  let missingClosed = 0;
  let missingNeverLive = 0;
  const frames = createFramePublisher(env.redis, env.prefix);
  for (let b = -WARMUP_BROADCASTS; b < BROADCASTS; b++) {
    const id = `broadcast_${b}_${Date.now()}`;
    await Promise.all(clients.map((c) => c.request({ type: 'arm', marker: id }, 'armed')));
    const frame: LiveFrame = { type: 'event', data: { id, type: 'maintenance', tenantId: TENANT, severity: 'info', occurredAt: new Date().toISOString(), data: { title: 'Maintenance tonight at 22:00' } } };
    const sentAt = performance.timeOrigin + performance.now();
    // Through Herald's own publisher, so the message is in the shape every instance reads.
    await frames.toTenants([{ tenantId: TENANT, frame }]);
    const collected = await Promise.all(
      clients.map((c) => c.request<{ times: number[]; closed: number; neverLive: number }>({ type: 'collect', timeoutMs: 10_000 }, 'arrivals', 30_000)),
    );
    if (b < 0) {
      await sleep(500);
      continue;
    }
    const before = latencies.length;
    for (const { times, closed, neverLive } of collected) {
      missingClosed += closed;
      missingNeverLive += neverLive;
      for (const at of times) {
        if (at > 0) latencies.push(at - sentAt);
        else {
          latencies.push(Number.POSITIVE_INFINITY);
          missing++;
        }
      }
    }
    p99ByBroadcast.push(percentile(latencies.slice(before), 99));
    await sleep(500);
  }
  await Promise.all(clients.map((c) => c.request({ type: 'close' }, 'closed')));
  await sleep(1_000);
  return { perConnectionKiB: (rssAfter - rssBefore) / Math.max(1, live), heapPerConnectionKiB: (heapAfter - heapBefore) / 1024 / Math.max(1, live), rssBefore, rssAfter, latencies, p99ByBroadcast, openSeconds, missing, missingClosed, missingNeverLive, broken, live };
}

/** Each broadcast's p99 arrival, in the order they were sent. */
function byBroadcast(m: Measured): string {
  return m.p99ByBroadcast.map((p99) => p99.toFixed(0)).join(', ');
}

/** Missing broadcast frames, and how many of them were on streams that had closed or never opened: each counts as never arrived. */
function missingNote(m: Measured): string {
  const on = [m.missingClosed && `${m.missingClosed} on streams closed after opening`, m.missingNeverLive && `${m.missingNeverLive} on streams never live`].filter(Boolean);
  return `${m.missing} missing${on.length ? ` (${on.join(', ')})` : ''}`;
}

/**
 * Scenario 4. One API process (a child, so its RSS can be read from /proc) holding 10,000 live
 * streams of 10,000 distinct users of one tenant; the clients are plain node:http requests
 * without an agent, in CLIENT_PROCESSES processes. Baseline: a bare node:http server holding
 * the same number of open streaming responses (same headers, same first frame) and writing a
 * broadcast to each.
 */
export const sseScale: Scenario = {
  name: 'sse-scale',
  summary: `${WANTED} concurrent streams on one API process: RSS per connection and a tenant broadcast's p99 arrival, vs a bare node:http streaming server`,
  async run() {
    const limit = openFilesLimit();
    const count = Math.min(WANTED, Math.floor(limit - 1_000));
    const env = await createBenchEnv('sse', { BENCH_SSE_TENANT: TENANT });
    try {
      await env.seedTenant(TENANT);
      const userIds = await env.seedUsers(TENANT, 's', count);
      const tokens = await Promise.all(userIds.map((u) => env.userToken(u, [TENANT])));
      const clients = await Promise.all(Array.from({ length: CLIENT_PROCESSES }, () => env.spawn('sse-clients')));

      const web = await env.spawn('web');
      const herald = await measure(env, web, clients, `${web.url}/api/v1/events`, tokens.map((t) => ({ authorization: `Bearer ${t}` })));
      await env.stop(web);

      const bare = await env.spawn('bare-sse');
      const baseline = await measure(env, bare, clients, `${bare.url}/stream`, tokens.map(() => ({})));
      await env.stop(bare);

      const hp99 = percentile(herald.latencies, 99);
      const bp99 = percentile(baseline.latencies, 99);
      const scaled = count < WANTED ? ` (only ${count} streams: open-files limit ${limit})` : '';
      const mib = (kib: number) => (kib / 1024).toFixed(0);
      const figures: Figure[] = [
        {
          name: 'sse-scale',
          metric: `resident memory per connection (${count})`,
          unit: 'KiB',
          herald: herald.perConnectionKiB,
          baseline: baseline.perConnectionKiB,
          ratio: ratioOf(herald.perConnectionKiB, baseline.perConnectionKiB),
          goal: '≤ 20 KiB',
          met: herald.perConnectionKiB <= 20 && count === WANTED && herald.live === count,
          note:
            `RSS after full GC ${mib(herald.rssBefore)} → ${mib(herald.rssAfter)} MiB, JS heap ${herald.heapPerConnectionKiB.toFixed(1)} KiB/conn (baseline ${mib(baseline.rssBefore)} → ${mib(baseline.rssAfter)} MiB, heap ${baseline.heapPerConnectionKiB.toFixed(1)} KiB/conn); ` +
            `opened in ${herald.openSeconds.toFixed(1)} s (baseline ${baseline.openSeconds.toFixed(1)} s); ${herald.live}/${count} live` +
            (herald.broken ? `, ${herald.broken} broken (answered 200 then closed before their first frame, or refused)` : '') +
            ` (baseline ${baseline.live})${scaled}`,
        },
        {
          name: 'sse-scale',
          metric: `broadcast p99 arrival (${BROADCASTS} × ${count})`,
          unit: 'ms',
          herald: hp99,
          baseline: bp99,
          ratio: ratioOf(hp99, bp99),
          goal: '≤ 250 ms',
          met: hp99 <= 250 && herald.missing === 0,
          note: `p50 ${percentile(herald.latencies, 50).toFixed(0)} ms, max ${percentile(herald.latencies, 100).toFixed(0)} ms, ${missingNote(herald)} (baseline ${missingNote(baseline)}, p50 ${percentile(baseline.latencies, 50).toFixed(0)} ms, max ${percentile(baseline.latencies, 100).toFixed(0)} ms); p99 by broadcast ${byBroadcast(herald)} ms (baseline ${byBroadcast(baseline)}), after ${WARMUP_BROADCASTS} not measured; clients in ${CLIENT_PROCESSES} processes`,
        },
      ];
      return figures;
    } finally {
      await env.cleanup();
    }
  },
};
