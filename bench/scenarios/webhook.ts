import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { queueCatalog } from '../../src/queues/catalog.ts';
import { createBenchEnv, createJsonClient, type Scenario } from '../harness.ts';
import { skipped, type Figure } from '../report.ts';
import { alternatingRounds, cpuPerDeliveryFigure, createArrivals, MEASURED_ROUNDS, roleUnavailable, stagedDeliveries, throughputFigure, timedArrivals, WARMUP_COUNT } from './staged.ts';

const COUNT = Number(process.env.BENCH_WEBHOOK_COUNT ?? 5_000);
/** Herald's outbound client's default sockets per host (src/outbound/httpClient.ts). */
const MAX_SOCKETS = 20;
/**
 * The loop's requests at once: a few more than its sockets, its best. More only queue in the
 * agent and slow it (60: ~5% fewer deliveries/s, 120: 15–25% fewer), so it does not follow
 * Herald's concurrency, whose jobs spend most of their time in flight on bookkeeping.
 */
const LOOP_CONCURRENCY = 25;
const METRICS = [{ metric: `deliveries/s (${COUNT})`, unit: 'del/s', goal: '≥ 0.6× baseline' }];

/**
 * Scenario 5. The webhook worker (child process, as workers/webhook.ts runs it) delivers 5,000
 * staged deliveries to a keep-alive node:http receiver in this process, allowed through
 * OUTBOUND_ALLOW_HOSTS. Baseline: a raw got loop (child process), 25 requests at once over
 * the same socket cap, posting to the same receiver. Both sides are measured in alternating
 * rounds (see MEASURED_ROUNDS).
 */
export const webhook: Scenario = {
  name: 'webhook',
  summary: `${COUNT} signed webhook deliveries to a local keep-alive receiver, vs a raw got loop at the same concurrency`,
  async run() {
    const unavailable = await roleUnavailable(() => import('../../workers/roles/webhook.ts'), 'startWebhook');
    if (unavailable) return skipped('webhook', METRICS, unavailable);

    const arrivals = createArrivals();
    const receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        arrivals.count++;
        arrivals.lastAt = performance.now();
        res.writeHead(204).end();
      });
    });
    receiver.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as AddressInfo).port;
    const hookUrl = `http://127.0.0.1:${port}/hook`;

    const env = await createBenchEnv('webhook', { OUTBOUND_ALLOW_HOSTS: `127.0.0.1:${port}` });
    try {
      await env.seedTenant('hooks');
      const web = await env.spawn('web');
      await env.spawn('router');
      await env.spawn('webhook');
      const client = createJsonClient(web.url, 2);
      const rule = await client.post('/api/v1/rules', { tenantId: 'hooks', eventType: 'deploy_finished', channel: 'webhook', severityFilter: '', enabled: true, emailRecipients: [], webhookUrl: hookUrl });
      client.close();
      if (rule.status !== 201) throw new Error(`rule create answered ${rule.status}: ${rule.body}`);

      const event = (i: number) => ({ id: `hook_${i}`, type: 'deploy_finished', tenantId: 'hooks', severity: 'info', data: { service: 'api', version: `1.2.${i}`, url: 'https://app.example/deploys/42' } });
      // Each side warmed by WARMUP_COUNT deliveries of its own first (Herald's with event ids after every round's).
      await stagedDeliveries({ env, webUrl: web.url, queue: 'webhook', count: WARMUP_COUNT, event: (i) => event(MEASURED_ROUNDS * COUNT + i), arrivals, timeoutMs: 180_000 });
      const loop = await env.spawn('got-loop');
      const body = JSON.stringify({ id: 'hook_x', type: 'deploy_finished', tenantId: 'hooks', severity: 'info', occurredAt: new Date().toISOString(), data: event(0).data });
      const run = { type: 'run', url: hookUrl, count: COUNT, concurrency: LOOP_CONCURRENCY, maxSockets: MAX_SOCKETS, body, headers: { 'content-type': 'application/json', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=' } };
      await timedArrivals(env, arrivals, WARMUP_COUNT, 'baseline warm-up', () => loop.request({ ...run, count: WARMUP_COUNT }, 'done', 180_000));

      const rounds = await alternatingRounds({
        herald: (round) => stagedDeliveries({ env, webUrl: web.url, queue: 'webhook', count: COUNT, event: (i) => event(round * COUNT + i), arrivals, timeoutMs: 180_000 }),
        baseline: () => timedArrivals(env, arrivals, COUNT, 'baseline', () => loop.request(run, 'done', 180_000)),
      });
      const figures: Figure[] = [
        throughputFigure({
          name: 'webhook',
          metric: METRICS[0]!,
          goalRatio: 0.6,
          count: COUNT,
          rounds,
          detail: `Herald's concurrency ${queueCatalog.webhook.concurrency}, the loop's ${LOOP_CONCURRENCY}, ${MAX_SOCKETS} sockets each`,
        }),
        cpuPerDeliveryFigure({ name: 'webhook', count: COUNT, workerRole: 'webhook', rounds, loopRole: 'got-loop' }),
      ];
      return figures;
    } finally {
      await env.cleanup();
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  },
};
