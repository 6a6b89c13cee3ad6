/**
 * `npx tsx bench/tools/traceChain.ts [rate] [count] [users]`: publish → notification frame split
 * into stages, at a steady rate through the whole pipeline (every Procfile process as its own
 * child), each user holding a stream in a tenant of their own as in publish-to-frame. The stage
 * boundaries are the rows' own timestamps (`events.accepted_at`, the intake transaction's start;
 * `notifications.created_at`, the routing write's) against the client's
 * clock — one machine, one clock. A diagnostic for where a hop's time goes; not part of
 * `npm run bench`, whose figures it does not replace. TRACE_COST=1 adds what each event cost:
 * CPU by process, and the Redis commands it took (the 8 costliest; TRACE_COMMANDS=n for n).
 */
import { createBenchEnv, createJsonClient, percentile, sleep, type BenchEnv } from '../harness.ts';
import { openSse, type SseStream } from '../sseClient.ts';

const RATE = Number(process.argv[2] ?? 200);
const COUNT = Number(process.argv[3] ?? 2_000);
const USERS = Number(process.argv[4] ?? 200);

/** Redis's counters per command since it started: calls and µs spent. */
async function redisCommands(redis: BenchEnv['redis']): Promise<Map<string, { calls: number; usec: number }>> {
  const counts = new Map<string, { calls: number; usec: number }>();
  for (const line of (await redis.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
    if (match) counts.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return counts;
}

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
  const send = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      // Open loop: the i-th event leaves at its time, whatever the server is doing.
      const due = start + dueAt(i);
      if (due > performance.now()) await sleep(due - performance.now());
      sent[i] = performance.now();
      const event = { id: `e${i}`, type: 'trace.step', tenantId: `t_${userOf(i)}`, severity: 'high', assigneeUserIds: [userOf(i)], data: { seq: i } };
      // A request cut off when the run stops (the children are killed) is not a result; it must not kill the tool.
      void client.post('/api/v1/events', event).then(() => (acked[i] = performance.now()), () => {});
    }
  };
  await send(0, beforeCount);
  // TRACE_COST=1: what the measured phase (the one after TRACE_BEFORE's) cost, per event — CPU
  // by process and Redis's commands (server-wide counts: run it on a quiet machine). Under a light load it is the wake-ups:
  // every hop to another process is a system call that wakes it.
  if (process.env.TRACE_COST) {
    const redisBefore = await redisCommands(env.redis);
    const { cpu } = await env.cpuOf(async () => {
      await send(beforeCount, total);
      await sleep(1_000);
    });
    const redisAfter = await redisCommands(env.redis);
    const perEvent = (n: number) => (n / COUNT).toFixed(3);
    console.log(`CPU ms per event: ${Object.entries(cpu.byRole).map(([role, ms]) => `${role} ${perEvent(ms)}`).join(', ')}; Postgres ${perEvent(cpu.services.postgres)}, Redis ${perEvent(cpu.services.redis)}; the machine ${perEvent(cpu.machineSeconds * 1000)}`);
    const used = [...redisAfter]
      .map(([command, after]) => ({ command, calls: after.calls - (redisBefore.get(command)?.calls ?? 0), usec: after.usec - (redisBefore.get(command)?.usec ?? 0) }))
      .filter((c) => c.calls > 0)
      .sort((a, b) => b.usec - a.usec);
    console.log(`Redis per event (commands run inside scripts are counted too): ${used.slice(0, Number(process.env.TRACE_COMMANDS ?? 8)).map((c) => `${c.command} ${perEvent(c.calls)} (${perEvent(c.usec)} µs)`).join(', ')}`);
  } else {
    await send(beforeCount, total);
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
  // TRACE_WORST=n: the n slowest events, with when they were sent (also by the wall clock, to match
  // other processes' logs and samplers), to tell a stall (many neighbours at once) from a straggler.
  const worst = Number(process.env.TRACE_WORST ?? 0);
  for (const { i, values } of byEvent.sort((a, b) => b.values[4]! - a.values[4]!).slice(0, worst)) {
    console.log(`  e${i} sent at ${((sent[i]! - start) / 1000).toFixed(3)} s (${new Date(at(sent[i]!)).toISOString()}): ${values.map((v) => v.toFixed(1)).join(' / ')} ms`);
  }
  client.close();
} finally {
  for (const stream of streams) stream.close();
  await env.cleanup();
}
process.exit(0);
