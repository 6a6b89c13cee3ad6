/**
 * `npx tsx bench/tools/traceChain.ts [rate] [count] [users]`: publish → notification frame split
 * into stages, at a steady rate through the whole pipeline (every Procfile process as its own
 * child), each user holding a stream in a tenant of their own as in publish-to-frame. The stage
 * boundaries are the rows' own timestamps (`events.accepted_at`, the intake transaction's start;
 * `notifications.created_at`, the routing write's) against the client's
 * clock — one machine, one clock. A diagnostic for where a hop's time goes; not part of
 * `npm run bench`, whose figures it does not replace.
 */
import { createBenchEnv, createJsonClient, percentile, sleep } from '../harness.ts';
import { openSse, type SseStream } from '../sseClient.ts';

const RATE = Number(process.argv[2] ?? 200);
const COUNT = Number(process.argv[3] ?? 2_000);
const USERS = Number(process.argv[4] ?? 200);

const env = await createBenchEnv('trace');
const streams: SseStream[] = [];
try {
  const userIds = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const userOf = (i: number) => userIds[i % USERS]!;
  await env.sql`insert into tenants (id, name) select 't_' || u, u from unnest(${userIds}::text[]) as u`;
  await env.sql`insert into users (id, email, name, tenant_ids) select u, u || '@bench.example', u, array['t_' || u] from unnest(${userIds}::text[]) as u`;
  const web = await env.spawnPipeline();

  const arrivals = new Map<number, number>();
  const onFrame = (frame: { type: string; data: string }, at: number) => {
    if (frame.type !== 'notification') return;
    const seq = (JSON.parse(frame.data) as { data: { seq: number } }).data.seq;
    if (!arrivals.has(seq)) arrivals.set(seq, at);
  };
  for (const userId of userIds) {
    const token = await env.userToken(userId, [`t_${userId}`]);
    streams.push(await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${token}` }, { onFrame }));
  }

  const client = createJsonClient(web.url, 64);
  const sent: number[] = [];
  const acked: number[] = [];
  // TRACE_BEFORE=rate:count: a phase at another rate first (ids go on from it; leave it out of
  // the figures with TRACE_SKIP=count), to see what a change of rate costs a running service.
  // TRACE_GAP_MS=ms: that long with nothing sent between the two phases, as the bench's steps have.
  const [beforeRate, beforeCount] = (process.env.TRACE_BEFORE ?? '1:0').split(':').map(Number) as [number, number];
  const gapMs = Number(process.env.TRACE_GAP_MS ?? 0);
  const dueAt = (i: number) => (i < beforeCount ? (i * 1000) / beforeRate : (beforeCount * 1000) / beforeRate + gapMs + ((i - beforeCount) * 1000) / RATE);
  const total = beforeCount + COUNT;
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    // Open loop: the i-th event leaves at its time, whatever the server is doing.
    const due = start + dueAt(i);
    if (due > performance.now()) await sleep(due - performance.now());
    sent[i] = performance.now();
    const event = { id: `e${i}`, type: 'trace.step', tenantId: `t_${userOf(i)}`, severity: 'high', assigneeUserIds: [userOf(i)], data: { seq: i } };
    // A request cut off when the run stops (the children are killed) is not a result; it must not kill the tool.
    void client.post('/api/v1/events', event).then(() => (acked[i] = performance.now()), () => {});
  }
  await sleep(2_000);

  const rows = await env.sql<{ id: string; accepted: number; written: number }[]>`
    select e.id, extract(epoch from e.accepted_at) * 1000 as accepted, extract(epoch from n.created_at) * 1000 as written
    from events e join notifications n on n.tenant_id = e.tenant_id and n.event_id = e.id`;
  const at = (ms: number) => performance.timeOrigin + ms;
  const stages: [string, number[]][] = [
    ['POST sent → intake transaction', []],
    ['intake transaction → 202 received', []],
    ['intake transaction → routing write', []],
    ['routing write → frame received', []],
    ['POST sent → frame received', []],
  ];
  const byEvent: { i: number; values: number[] }[] = [];
  // TRACE_SKIP=n: leave out the first n events, the cold start of every process (JIT, first statements, caches).
  const skip = Number(process.env.TRACE_SKIP ?? 0);
  for (const row of rows) {
    const i = Number(row.id.slice(1));
    const frame = arrivals.get(i);
    if (frame === undefined || i < skip) continue;
    const [accepted, written] = [Number(row.accepted), Number(row.written)];
    const values = [accepted - at(sent[i]!), at(acked[i]!) - accepted, written - accepted, at(frame) - written, frame - sent[i]!];
    values.forEach((v, k) => stages[k]![1].push(v));
    byEvent.push({ i, values });
  }
  console.log(`${RATE} events/s, ${COUNT} events${beforeCount > 0 ? ` after ${beforeCount} at ${beforeRate}/s` : ''}, ${USERS} users: frames ${arrivals.size}/${total}`);
  for (const [name, values] of stages) {
    console.log(`${name.padEnd(36)} p50 ${percentile(values, 50).toFixed(1).padStart(6)}  p90 ${percentile(values, 90).toFixed(1).padStart(6)}  p99 ${percentile(values, 99).toFixed(1).padStart(6)} ms`);
  }
  // TRACE_SECONDS=1: publish → frame p50 / p99 of each second of sending, to see warm-up and drift.
  if (process.env.TRACE_SECONDS) {
    const bySecond = new Map<number, number[]>();
    for (const { i, values } of byEvent) {
      const second = Math.floor(dueAt(i) / 1000);
      bySecond.set(second, [...(bySecond.get(second) ?? []), values[4]!]);
    }
    for (const [second, values] of [...bySecond].sort((a, b) => a[0] - b[0])) {
      console.log(`  second ${String(second).padStart(3)}: p50 ${percentile(values, 50).toFixed(1).padStart(6)}  p99 ${percentile(values, 99).toFixed(1).padStart(6)} ms`);
    }
  }
  // TRACE_WORST=n: the n slowest events, with when they were sent, to tell a stall (many neighbours at once) from a straggler.
  const worst = Number(process.env.TRACE_WORST ?? 0);
  for (const { i, values } of byEvent.sort((a, b) => b.values[4]! - a.values[4]!).slice(0, worst)) {
    console.log(`  e${i} sent at ${((sent[i]! - start) / 1000).toFixed(3)} s: ${values.map((v) => v.toFixed(1)).join(' / ')} ms`);
  }
  client.close();
} finally {
  for (const stream of streams) stream.close();
  await env.cleanup();
}
process.exit(0);
