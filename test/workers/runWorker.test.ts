import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createQueues, type Queues } from '../../src/queues/catalog.ts';
import { runWorker, type RunningWorker } from '../../workers/run-worker.ts';
import { eventually } from '../helpers/api.ts';
import { capturedLog } from '../helpers/capturedLog.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let queues: Queues;
const workers: RunningWorker[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  queues = createQueues(env.redis, env.config.REDIS_PREFIX);
});
afterAll(async () => {
  for (const worker of workers) await worker.close();
  await env?.cleanup();
});

const parsedLines = (lines: string[]) => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

it('aborts a job that overruns its timeout: the job fails with the reason and the signal its handler holds is aborted', async () => {
  const signals: AbortSignal[] = [];
  const worker = runWorker({
    queue: 'push',
    config: env.config,
    logger: env.logger,
    timeoutMs: 300,
    handle: async (job) => {
      signals.push(job.signal);
      await new Promise(() => {}); // a far side that never answers
    },
  });
  workers.push(worker);
  const deliveryId = randomUUID();
  const job = await queues.push.add('push', { deliveryId, eventId: 'hung' }, { jobId: deliveryId, attempts: 1 });

  const failed = await eventually(async () => ((await job.isFailed()) ? await queues.push.getJob(deliveryId) : null));
  expect(failed?.failedReason).toBe('timed out after 300 ms');
  expect(signals).toHaveLength(1);
  expect(signals[0]!.aborted).toBe(true);
  expect((signals[0]!.reason as Error).message).toBe('timed out after 300 ms');
  await worker.close();
});

it("writes a job's lines with its ids, and only those at an enabled level", async () => {
  const { logger, lines } = capturedLog('info');
  const worker = runWorker({
    queue: 'push',
    config: env.config,
    logger,
    handle: async (job) => {
      job.logger.debug({ detail: 'not at info' }, 'below the level');
      job.logger.warn({ rule: { webhookUrl: 'https://hooks.example/T0/secret' } }, 'something to say');
    },
  });
  workers.push(worker);
  const deliveryId = randomUUID();
  const job = await queues.push.add('push', { deliveryId, eventId: 'evt_1' }, { jobId: deliveryId, attempts: 1 });
  await eventually(() => job.isCompleted());

  const written = parsedLines(lines).filter((line) => line.jobId === deliveryId);
  expect(written).toEqual([
    expect.objectContaining({ msg: 'something to say', queue: 'push', jobId: deliveryId, attempt: 1, deliveryId, eventId: 'evt_1', rule: { webhookUrl: '[redacted]' } }),
  ]);
  expect(parsedLines(lines).some((line) => line.msg === 'below the level')).toBe(false);
  await worker.close();
});
