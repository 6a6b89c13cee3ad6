import { createRedis } from '../../src/redis.ts';
import { createBenchEnv, createJsonClient, median, sleep, waitUntil, type Scenario } from '../harness.ts';
import { ratioOf, type Figure } from '../report.ts';

const RECIPIENTS = Number(process.env.BENCH_FANOUT_RECIPIENTS ?? 10_000);
const RUNS = 3;

/**
 * Scenario 3. One event naming all 10,000 users of a tenant as assignees. Web, router and
 * in-app worker run as child processes. Done means: every inbox row committed (polled with
 * count(*)) and every notification frame published (counted on a PSUBSCRIBE to the user
 * channels). Baseline: one multi-row INSERT … SELECT FROM unnest() of the same 10,000 rows
 * into a copy of the notifications table (same columns, defaults and indexes).
 */
export const fanout: Scenario = {
  name: 'fanout',
  summary: `one event to ${RECIPIENTS} assignees until every inbox row is committed and every frame published, vs a raw ${RECIPIENTS}-row INSERT`,
  async run() {
    const env = await createBenchEnv('fanout');
    const subscriber = createRedis(env.config.REDIS_URL, 'subscriber');
    try {
      await env.seedTenant('big');
      const userIds = await env.seedUsers('big', 'f', RECIPIENTS);
      const web = await env.spawn('web');
      await env.spawn('router');
      await env.spawn('inapp');

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

      const client = createJsonClient(web.url, 4);
      async function fanOut(eventId: string, recipients: string[]) {
        targets.set(eventId, recipients.length);
        const started = performance.now();
        const res = await client.post('/api/v1/events', { id: eventId, type: 'finding_created', tenantId: 'big', severity: 'high', assigneeUserIds: recipients, data: { title: 'Everyone' } });
        if (res.status !== 202) throw new Error(`publish answered ${res.status}: ${res.body}`);
        const acceptedAt = performance.now();
        const rowsAt = await waitUntil(
          `${recipients.length} inbox rows of ${eventId}`,
          async () => {
            const [row] = await env.sql<{ n: number }[]>`select count(*)::int as n from notifications where event_id = ${eventId}`;
            return row!.n >= recipients.length ? performance.now() : null;
          },
          30_000,
          10,
        );
        const framesAt = await waitUntil(`${recipients.length} frames of ${eventId}`, () => framesDoneAt.get(eventId), 30_000, 5);
        return { total: Math.max(rowsAt, framesAt) - started, rows: rowsAt - started, frames: framesAt - started, accept: acceptedAt - started };
      }

      await fanOut('fan_warm', userIds.slice(0, 200));
      const heraldRuns = [];
      for (let k = 0; k < RUNS; k++) {
        await sleep(500);
        heraldRuns.push(await fanOut(`fan_${k}`, userIds));
      }
      client.close();

      await env.sql`create table bench_inbox (like notifications including all)`;
      const baselineRuns: number[] = [];
      for (let k = -1; k < RUNS; k++) {
        const eventId = `raw_${k}`;
        const started = performance.now();
        await env.sql`
          insert into bench_inbox (user_id, tenant_id, event_id, type, severity, title, body, url, data)
          select u, 'big', ${eventId}, 'finding_created', 'high', 'Everyone', 'A finding was created', null, '{"title":"Everyone"}'::jsonb
          from unnest(${userIds}::text[]) as u`;
        if (k >= 0) baselineRuns.push(performance.now() - started); // k = -1 warms the plan and the table
      }

      const herald = median(heraldRuns.map((r) => r.total));
      const baseline = median(baselineRuns);
      const ratio = ratioOf(herald, baseline);
      const runs = heraldRuns.map((r) => `${r.total.toFixed(0)} ms (202 at ${r.accept.toFixed(0)}, rows ${r.rows.toFixed(0)}, frames ${r.frames.toFixed(0)})`).join('; ');
      const figures: Figure[] = [
        {
          name: 'fanout',
          metric: `${RECIPIENTS} inbox rows + frames (median of ${RUNS})`,
          unit: 'ms',
          herald,
          baseline,
          ratio,
          goal: '≤ 500 ms and ≤ 4× baseline',
          met: herald <= 500 && ratio !== null && ratio <= 4,
          note: `runs: ${runs}; baseline INSERTs ${baselineRuns.map((b) => b.toFixed(0)).join(', ')} ms`,
        },
      ];
      return figures;
    } finally {
      subscriber.disconnect();
      await env.cleanup();
    }
  },
};
