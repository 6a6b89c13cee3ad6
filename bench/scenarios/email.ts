import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { queueCatalog } from '../../src/queues/catalog.ts';
import { createBenchEnv, createJsonClient, type Scenario } from '../harness.ts';
import { skipped, type Figure } from '../report.ts';
import { alternatingRounds, cpuPerDeliveryFigure, createArrivals, MEASURED_ROUNDS, roleUnavailable, stagedDeliveries, throughputFigure, timedArrivals, WARMUP_COUNT } from './staged.ts';

const COUNT = Number(process.env.BENCH_EMAIL_COUNT ?? 2_000);
const METRICS = [{ metric: `emails/s (${COUNT})`, unit: 'mail/s', goal: '≥ 0.5× baseline' }];

/**
 * Scenario 6. The email worker (child process) sends 2,000 staged emails — one static rule
 * recipient per event — to an smtp-server in this process. Baseline: a raw nodemailer pooled
 * transport (child process) with Herald's SMTP connection count and the queue's concurrency,
 * sending messages of the same average size to the same server over TCP_NODELAY sockets, as
 * Herald's are: the best a plain loop does, so the ratio is Herald's cost, not a shared stall.
 * Both sides are measured in alternating rounds (see MEASURED_ROUNDS).
 */
export const email: Scenario = {
  name: 'email',
  summary: `${COUNT} emails to a local smtp-server, vs a raw pooled nodemailer loop`,
  async run() {
    const unavailable = await roleUnavailable(() => import('../../workers/roles/email.ts'), 'startEmail');
    if (unavailable) return skipped('email', METRICS, unavailable);

    const arrivals = createArrivals();
    let bytes = 0;
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onData(stream, _session, callback) {
        stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
        stream.on('end', () => {
          arrivals.count++;
          arrivals.lastAt = performance.now();
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    const smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;

    const env = await createBenchEnv('email', { SMTP_URL: smtpUrl });
    try {
      await env.seedTenant('mail');
      const web = await env.spawn('web');
      await env.spawn('router');
      await env.spawn('email');
      const client = createJsonClient(web.url, 2);
      const rule = await client.post('/api/v1/rules', { tenantId: 'mail', eventType: 'scan_completed', channel: 'email', severityFilter: '', enabled: true, emailRecipients: ['ops@bench.example'] });
      client.close();
      if (rule.status !== 201) throw new Error(`rule create answered ${rule.status}: ${rule.body}`);

      const event = (i: number) => ({ id: `mail_${i}`, type: 'scan_completed', tenantId: 'mail', severity: 'info', data: { title: `Nightly scan ${i} finished`, findings: 3, url: 'https://app.example/scans/42' } });
      // Each side warmed by WARMUP_COUNT deliveries of its own first (Herald's with event ids after
      // every round's); the message sizes are the warm-ups', the same template and data as the rounds'.
      bytes = 0;
      await stagedDeliveries({ env, webUrl: web.url, queue: 'email', count: WARMUP_COUNT, event: (i) => event(MEASURED_ROUNDS * COUNT + i), arrivals, timeoutMs: 180_000 });
      const averageBytes = Math.round(bytes / Math.max(1, arrivals.count));

      const maxConnections = (env.config as { EMAIL_CONCURRENCY?: number }).EMAIL_CONCURRENCY ?? 5;
      const loop = await env.spawn('mail-loop');
      const paragraph = '<p>Nightly scan finished: 3 findings need a look. Open Herald to see them.</p>\n';
      const html = `<!doctype html><html><body>${paragraph.repeat(Math.max(1, Math.round((averageBytes - 900) / 2 / paragraph.length)))}</body></html>`;
      const text = 'Nightly scan finished: 3 findings need a look.\n'.repeat(Math.max(1, Math.round((averageBytes - 900) / 2 / 47)));
      const run = { type: 'run', smtpUrl, count: COUNT, concurrency: queueCatalog.email.concurrency, maxConnections, from: 'Herald <notifications@herald.local>', to: 'ops@bench.example', subject: 'Nightly scan finished', text, html };
      bytes = 0;
      await timedArrivals(env, arrivals, WARMUP_COUNT, 'baseline warm-up', () => loop.request({ ...run, count: WARMUP_COUNT }, 'done', 180_000));
      const baselineBytes = Math.round(bytes / Math.max(1, arrivals.count));

      const rounds = await alternatingRounds({
        herald: (round) => stagedDeliveries({ env, webUrl: web.url, queue: 'email', count: COUNT, event: (i) => event(round * COUNT + i), arrivals, timeoutMs: 180_000 }),
        baseline: () => timedArrivals(env, arrivals, COUNT, 'baseline', () => loop.request(run, 'done', 180_000)),
      });
      const figures: Figure[] = [
        throughputFigure({
          name: 'email',
          metric: METRICS[0]!,
          goalRatio: 0.5,
          count: COUNT,
          rounds,
          detail: `messages ~${averageBytes} B (baseline ~${baselineBytes} B); ${maxConnections} SMTP connections with TCP_NODELAY, concurrency ${queueCatalog.email.concurrency}`,
        }),
        cpuPerDeliveryFigure({ name: 'email', count: COUNT, workerRole: 'email', rounds, loopRole: 'mail-loop' }),
      ];
      return figures;
    } finally {
      await env.cleanup();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    }
  },
};
