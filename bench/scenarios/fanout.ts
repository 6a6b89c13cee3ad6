import { createRedis } from '../../src/redis.ts';
import { createBenchEnv, createJsonClient, median, sleep, waitUntil, type Scenario } from '../harness.ts';
import { ratioOf, roundTripsFigure, type Figure } from '../report.ts';
import { RULES_PER_TENANT, seedUnmatchedRules } from '../ruleLoad.ts';
import { openSse, type SseStream } from '../sseClient.ts';

const RECIPIENTS = Number(process.env.BENCH_FANOUT_RECIPIENTS ?? 10_000);
/** Recipients holding an open stream, spread evenly over the list: the last of them to get the frame is the figure. */
const SAMPLED_STREAMS = 100;
const RUNS = 3;
const EVENT_TYPE = 'finding_created';

/**
 * Scenario 3. One event naming all 10,000 users of a tenant as assignees, with every process of
 * the Procfile running. The figure is the time from sending the POST to the last notification
 * frame at 100 open streams of recipients spread over the list (a user at the end of the last
 * in-app batch is sampled too). Also noted: when every inbox row was committed (polled with
 * count(*)) and when the sampled streams' frames were published (counted on a PSUBSCRIBE to the
 * user channels: Herald publishes a large fan-out's frames only to users with a stream open).
 * Baseline: one multi-row INSERT … SELECT FROM unnest() of the same 10,000 rows into a copy of
 * the notifications table (same columns, defaults and indexes).
 *
 * Issue #16: the same users are also in a twin tenant, `big_rules`, with RULES_PER_TENANT rules
 * that never match the event (bench/ruleLoad.ts); the same runs are made there after those of
 * `big`. The router's Postgres round trips per routing pass (and the database's transactions)
 * are counted over the measured runs of each tenant, so the table shows whether the rules cost
 * round trips as well as time.
 */
export const fanout: Scenario = {
  name: 'fanout',
  summary: `one event to ${RECIPIENTS} assignees until the last of ${SAMPLED_STREAMS} sampled open streams has its frame, vs a raw ${RECIPIENTS}-row INSERT`,
  async run() {
    const env = await createBenchEnv('fanout');
    const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
    const streams: SseStream[] = [];
    try {
      await env.seedTenant('big');
      await env.seedTenant('big_rules');
      const userIds = await env.seedUsers(['big', 'big_rules'], 'f', RECIPIENTS);
      const web = await env.spawnPipeline();
      await seedUnmatchedRules(env, web, ['big_rules'], EVENT_TYPE);

      const framesByEvent = new Map<string, number>();
      const framesDoneAt = new Map<string, number>();
      const targets = new Map<string, number>();
      await subscriber.psubscribe(`${env.prefix}:live:user:*`);
      subscriber.on('pmessage', (_pattern: string, _channel: string, message: string) => {
        if (!message.startsWith('[{"type":"notification"')) return;
        // One message per user and publish: the user's new rows, then their count.
        for (const frame of JSON.parse(message) as { type: string; data: { eventId: string } }[]) {
          if (frame.type !== 'notification') continue;
          const eventId = frame.data.eventId;
          const n = (framesByEvent.get(eventId) ?? 0) + 1;
          framesByEvent.set(eventId, n);
          if (n === targets.get(eventId)) framesDoneAt.set(eventId, performance.now());
        }
      });

      // Arrival of each event's frame at each sampled stream.
      const streamArrivals = new Map<string, number[]>();
      const sampled = Array.from({ length: SAMPLED_STREAMS }, (_, i) => userIds[Math.floor(((i + 1) * RECIPIENTS) / SAMPLED_STREAMS) - 1]!);
      for (const userId of sampled) {
        const token = await env.userToken(userId, ['big', 'big_rules']);
        streams.push(
          await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${token}` }, {
            onFrame: (frame, at) => {
              if (frame.type !== 'notification') return;
              const eventId = (JSON.parse(frame.data) as { eventId: string }).eventId;
              streamArrivals.set(eventId, [...(streamArrivals.get(eventId) ?? []), at]);
            },
          }),
        );
      }

      const client = createJsonClient(web.url, 4);
      async function fanOut(eventId: string, recipients: string[], tenantId = 'big') {
        const watched = recipients.filter((id) => sampled.includes(id)).length;
        targets.set(eventId, watched);
        let polls = 0;
        const started = performance.now();
        const res = await client.post('/api/v1/events', { id: eventId, type: EVENT_TYPE, tenantId, severity: 'high', assigneeUserIds: recipients, data: { title: 'Everyone' } });
        if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${res.body}`);
        const acceptedAt = performance.now();
        const lastStreamAt = await waitUntil(
          `${watched} sampled streams to get ${eventId}`,
          () => {
            const arrivals = streamArrivals.get(eventId) ?? [];
            return arrivals.length >= watched ? Math.max(...arrivals) : null;
          },
          30_000,
          5,
        );
        const rowsAt = await waitUntil(
          `${recipients.length} inbox rows of ${eventId}`,
          async () => {
            polls++;
            const [row] = await env.sql<{ n: number }[]>`select count(*)::int as n from notifications where event_id = ${eventId}`;
            return row!.n >= recipients.length ? performance.now() : null;
          },
          30_000,
          10,
        );
        const framesAt = await waitUntil(`${watched} frames of ${eventId}`, () => framesDoneAt.get(eventId), 30_000, 5);
        return { lastStream: lastStreamAt - started, rows: rowsAt - started, frames: framesAt - started, accept: acceptedAt - started, polls };
      }
      type FanOutRun = Awaited<ReturnType<typeof fanOut>>;
      const describe = (r: FanOutRun) => `${r.lastStream.toFixed(0)} ms (202 at ${r.accept.toFixed(0)}, all rows ${r.rows.toFixed(0)}, frames to open streams published ${r.frames.toFixed(0)})`;

      /**
       * RUNS fan-outs to every user, and the database work they caused (the scenario's own polls
       * taken off), after one of their own to warm up: the first to reach every sampled stream
       * costs the API work that later ones do not, and the router's caches then hold what the runs
       * need (the tenant's rules, and its templates, which expire after a minute), as they do in a
       * router that has been running.
       */
      async function measuredRuns(tenantId: string, prefix: string) {
        await fanOut(`${prefix}_warm`, userIds, tenantId);
        const { result: runs, work } = await env.databaseWorkOf(async () => {
          const list: FanOutRun[] = [];
          for (let k = 0; k < RUNS; k++) {
            await sleep(500);
            list.push(await fanOut(`${prefix}_${k}`, userIds, tenantId));
          }
          return list;
        });
        return { runs, work: { work, events: RUNS, ownQueries: runs.reduce((n, r) => n + r.polls, 0) } };
      }
      const { runs: heraldRuns, work: heraldWork } = await measuredRuns('big', 'fan');
      const { runs: ruledRuns, work: ruledWork } = await measuredRuns('big_rules', 'fan_rules');
      client.close();

      await env.sql`create table bench_inbox (like notifications including all)`;
      const baselineRuns: number[] = [];
      for (let k = -1; k < RUNS; k++) {
        const eventId = `raw_${k}`;
        const started = performance.now();
        await env.sql`
          insert into bench_inbox (user_id, seq, tenant_id, event_id, type, severity, title, body, url, data)
          select u, 1, 'big', ${eventId}, 'finding_created', 'high', 'Everyone', 'A finding was created', null, '{"title":"Everyone"}'::jsonb
          from unnest(${userIds}::text[]) as u`;
        if (k >= 0) baselineRuns.push(performance.now() - started); // k = -1 warms the plan and the table
        await env.sql`truncate bench_inbox`;
      }

      const herald = median(heraldRuns.map((r) => r.lastStream));
      const ruled = median(ruledRuns.map((r) => r.lastStream));
      const baseline = median(baselineRuns);
      const runs = heraldRuns.map(describe).join('; ');
      const figures: Figure[] = [
        {
          name: 'fanout',
          metric: `${RECIPIENTS} recipients: last frame at ${SAMPLED_STREAMS} sampled streams (median of ${RUNS})`,
          unit: 'ms',
          herald,
          baseline,
          ratio: ratioOf(herald, baseline),
          goal: '≤ 1,000 ms',
          met: herald <= 1_000,
          note: `runs: ${runs}; baseline: one ${RECIPIENTS}-row INSERT, ${baselineRuns.map((b) => b.toFixed(0)).join(', ')} ms`,
        },
        {
          name: 'fanout',
          metric: `${RECIPIENTS} recipients, ${RULES_PER_TENANT} rules/tenant: last frame at ${SAMPLED_STREAMS} sampled streams (median of ${RUNS})`,
          unit: 'ms',
          herald: ruled,
          baseline: herald,
          ratio: ratioOf(ruled, herald),
          goal: '≤ 1,000 ms',
          met: ruled <= 1_000,
          note: `runs: ${ruledRuns.map(describe).join('; ')}; baseline: the median above, a tenant without rules`,
        },
        roundTripsFigure('fanout', `router round trips per routing pass (one ${RECIPIENTS}-recipient event), ${RULES_PER_TENANT} rules/tenant vs none`, ruledWork, heraldWork),
      ];
      return figures;
    } finally {
      for (const s of streams) s.close();
      subscriber.disconnect();
      await env.cleanup();
    }
  },
};
