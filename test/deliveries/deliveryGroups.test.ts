import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupMembersQuery, markGroupFailed } from '../../src/deliveries/deliveryGroups.ts';
import { createOutboxSweeper } from '../../src/intake/outboxSweeper.ts';
import { closeQueues, createQueues, deliveryGroupJobId, deliveryJobId, type Queues } from '../../src/queues/catalog.ts';
import { createRedis } from '../../src/redis.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { routeEvents, type RouteDeps } from '../../src/routing/routeEvents.ts';
import { createRuleCache } from '../../src/routing/ruleCache.ts';
import { directSource } from '../../src/templates/templateRenderer.ts';
import { startWebhook } from '../../workers/roles/webhook.ts';
import type { Role } from '../../workers/roles/role.ts';
import { capturingLogger, startScriptedReceiver, type ScriptedReceiver } from '../channels/receivers.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { accessPaths, executedGenericPlan, rowsRead } from '../helpers/queryPlan.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

// A webhook's due deliveries of one routing pass are sent by one group job
// (src/deliveries/deliveryGroups.ts); a member that fails goes on as a job of its own.

let env: TestEnv;
let api: ApiClient;
let receiver: ScriptedReceiver;
let queues: Queues;
let webhook: Role | null = null;
const logs = capturingLogger();

beforeAll(async () => {
  receiver = await startScriptedReceiver();
  // The router's own sweeper calls a delivery lost only after an hour: only the tests' sweeps run.
  env = await createTestEnv({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', OUTBOUND_TIMEOUT_MS: '800', RETRY_BACKOFF_MS: '200', OUTBOX_SWEEP_AFTER_SECONDS: '3600' });
  api = apiClient((await env.startWeb()).url);
  await env.startRouter();
  await seedDirectory(api, 'acme', ['u1']);
  queues = createQueues(env.redis, env.config.REDIS_PREFIX);
  // Three webhook rules that every event fires (its severity is high); one tenant may not hold two alike.
  for (const [path, severityFilter] of [['/a', ''], ['/b', 'low'], ['/c', 'medium']] as const) {
    const res = await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'deploy_finished', channel: 'webhook', severityFilter, webhookUrl: `${receiver.origin}${path}` });
    if (res.status !== 201) throw new Error(`rule ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  }
});
afterAll(async () => {
  if (queues) await closeQueues(queues);
  await env?.cleanup();
  await receiver?.close();
});

async function startWorker(): Promise<void> {
  webhook = await env.startRole((config) => startWebhook(config, logs.logger));
}
async function stopWorker(): Promise<void> {
  if (webhook) await env.stop(webhook);
  webhook = null;
}

/** Publishes the events in one request: one intake INSERT, one route job, one routing pass. */
async function publishTogether(ids: string[]): Promise<void> {
  const res = await api.post('/api/v1/events/batch', { events: ids.map((id) => ({ id, tenantId: 'acme', type: 'deploy_finished', severity: 'high', data: { version: id } })) });
  expect(res.status).toBe(200);
}

type Row = { id: string; event_id: string; destination: string; state: string; attempts: number; job_group: string | null; path: string };

/** The events' webhook deliveries, with the path of the rule's URL, by event and path. */
async function webhookRows(ids: string[]): Promise<Row[]> {
  const rows = await env.db.$client<Row[]>`
    select d.id, d.event_id, d.destination, d.state, d.attempts, d.job_group, substring(r.webhook_url from '/[a-z]+$') as path
    from deliveries d join rules r on r.id = d.rule_id
    where d.channel = 'webhook' and d.event_id = any(${ids})
    order by d.event_id, path`;
  return [...rows];
}

/** The events' webhook deliveries, once `done` accepts them. */
async function webhookRowsWhen(ids: string[], done: (rows: Row[]) => boolean | Promise<boolean>, timeoutMs?: number): Promise<Row[]> {
  return eventually(async () => {
    const rows = await webhookRows(ids);
    return (await done(rows)) ? rows : null;
  }, timeoutMs);
}

const sentTo = (path: string, ids: string[]) => receiver.arrivals(path).filter((a) => ids.some((id) => a.body.includes(`"version":"${id}"`))).length;

async function groupJobState(group: string): Promise<string> {
  const job = await queues.webhookGroup.getJob(deliveryGroupJobId(group));
  return job ? job.getState() : 'missing';
}

describe('webhook delivery groups', () => {
  const ids = ['grp_1', 'grp_2'];

  it('sends a pass’s webhooks with one group job and retries the one that failed alone', async () => {
    await startWorker();
    receiver.script('/b', { status: 500 }, { status: 500 });
    await publishTogether(ids);
    const rows = await webhookRowsWhen(ids, (found) => found.length === 6 && found.every((r) => r.state === 'delivered'), 15_000);

    // The a and c rows were sent by the group; each b row failed once and was handed to a job of its own.
    const group = rows.find((r) => r.path === '/a')!.job_group!;
    expect(group).not.toBeNull();
    expect(rows.map((r) => [r.event_id, r.path, r.attempts, r.job_group])).toEqual([
      ['grp_1', '/a', 1, group],
      ['grp_1', '/b', 2, null],
      ['grp_1', '/c', 1, group],
      ['grp_2', '/a', 1, group],
      ['grp_2', '/b', 2, null],
      ['grp_2', '/c', 1, group],
    ]);
    expect([sentTo('/a', ids), sentTo('/b', ids), sentTo('/c', ids)]).toEqual([2, 4, 2]);
    expect(await eventually(async () => ((await groupJobState(group)) === 'completed' ? 'completed' : null))).toBe('completed');
    for (const row of rows) expect(await queues.webhook.getJob(deliveryJobId(row.id))).toSatisfy((job) => (row.path === '/b' ? job !== undefined : job === undefined));
    // A member's hand-off is a warning that names the delivery, not its URL.
    expect(logs.lines.some((line) => line.includes('handed to a job of its own') && line.includes(rows[1]!.id))).toBe(true);
  });

  it('sends nothing again when the group’s job runs again or the events are routed again', async () => {
    const rows = await webhookRows(ids);
    const group = rows[0]!.job_group!;
    // As a stalled job's second run would: every member was sent or handed off, so none is the group's any more.
    await (await queues.webhookGroup.getJob(deliveryGroupJobId(group)))!.remove();
    await queues.webhookGroup.add('webhook-group', { group }, { jobId: deliveryGroupJobId(group) });
    await eventually(async () => (await groupJobState(group)) === 'completed');

    const deps: RouteDeps = { db: env.db, queues, frames: createFramePublisher(env.redis, env.config.REDIS_PREFIX), templates: directSource(env.db), rules: createRuleCache(env.db) };
    const counts = async () => [await queues.webhook.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active'), await queues.webhookGroup.getJobCountByTypes('waiting', 'prioritized', 'delayed', 'active')];
    await routeEvents(deps, ids.map((id) => ({ tenantId: 'acme', id })));
    expect(await counts()).toEqual([0, 0]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([sentTo('/a', ids), sentTo('/b', ids), sentTo('/c', ids)]).toEqual([2, 4, 2]);
    expect(await webhookRows(ids)).toEqual(rows);
  });

  it('sends only the members still pending when a group runs after some were sent', async () => {
    await stopWorker();
    const partial = ['grp_partial'];
    await publishTogether(partial);
    const rows = await webhookRowsWhen(partial, async (found) => found.length === 3 && (await groupJobState(found[0]!.job_group!)) !== 'missing');
    // What a worker killed mid-group leaves: one member's send recorded, the others not.
    await env.db.$client`update deliveries set state = 'delivered', attempts = 1 where id = ${rows[0]!.id}`;
    await startWorker();
    await eventually(async () => (await webhookRows(partial)).every((r) => r.state === 'delivered'));
    expect([sentTo('/a', partial), sentTo('/b', partial), sentTo('/c', partial)]).toEqual([0, 1, 1]);
  });

  it('has the outbox sweeper replace a group’s job that Redis lost, or that finished with members still its own', async () => {
    await stopWorker();
    const lost = ['grp_lost'];
    const skipped = ['grp_skipped'];
    await publishTogether(lost);
    await publishTogether(skipped);
    const [lostGroup, skippedGroup] = await eventually(async () => {
      const groups = [(await webhookRows(lost))[0]?.job_group, (await webhookRows(skipped))[0]?.job_group];
      return groups.every((g) => g && true) ? (groups as [string, string]) : null;
    });
    await eventually(async () => (await groupJobState(lostGroup)) !== 'missing' && (await groupJobState(skippedGroup)) !== 'missing');
    // One job gone (a Redis flush), the other finished without sending (a worker that ran an older job shape).
    await (await queues.webhookGroup.getJob(deliveryGroupJobId(lostGroup)))!.remove();
    const connection = createRedis(env.config, 'worker');
    const finisher = new Worker(queues.webhookGroup.name, async () => 'nothing sent', { connection, prefix: env.config.REDIS_PREFIX });
    await eventually(async () => (await groupJobState(skippedGroup)) === 'completed');
    await finisher.close();
    connection.disconnect();

    const sweeper = createOutboxSweeper({ db: env.db, queues, logger: env.logger, afterSeconds: 0.001 });
    // Both events are routed again (a route job each sweep), which adds their groups' jobs anew.
    expect(await sweeper.sweep()).toBe(2);
    const live = async (group: string) => ['waiting', 'prioritized'].includes(await groupJobState(group));
    await eventually(async () => (await live(lostGroup)) && (await live(skippedGroup)));
    // Nothing is lost any more: a second sweep adds nothing.
    expect(await sweeper.sweep()).toBe(0);

    await startWorker();
    await eventually(async () => [...(await webhookRows(lost)), ...(await webhookRows(skipped))].every((r) => r.state === 'delivered'));
    expect([sentTo('/a', [...lost, ...skipped]), sentTo('/b', [...lost, ...skipped]), sentTo('/c', [...lost, ...skipped])]).toEqual([2, 2, 2]);
  });

  it('retries a member that failed for good with a job of its own, outside its group', async () => {
    const gone = ['grp_gone'];
    receiver.script('/c', { status: 404 });
    await publishTogether(gone);
    const failed = await webhookRowsWhen(gone, (rows) => rows.length === 3 && rows.every((r) => r.state !== 'pending'));
    const member = failed.find((r) => r.path === '/c')!;
    expect(member).toMatchObject({ state: 'failed', attempts: 1 });

    const res = await api.post(`/api/v1/deliveries/${member.id}/retry`, {});
    expect(res.status).toBe(202);
    await eventually(async () => (await webhookRows(gone)).find((r) => r.path === '/c')!.state === 'delivered');
    const [retried] = (await webhookRows(gone)).filter((r) => r.path === '/c');
    expect(retried).toMatchObject({ attempts: 2, job_group: null });
    expect(sentTo('/c', gone)).toBe(2);
  });

  it('fails the members still in a group whose job gave up, keeping what they last failed with', async () => {
    await stopWorker();
    const stuck = ['grp_stuck'];
    await publishTogether(stuck);
    const rows = await webhookRowsWhen(stuck, (found) => found.length === 3);
    await env.db.$client`update deliveries set state = 'delivered' where id = ${rows[0]!.id}`;
    await markGroupFailed(env.db, rows[0]!.job_group!, new Error('database unavailable'));
    const after = await webhookRows(stuck);
    expect(after.map((r) => [r.path, r.state])).toEqual([
      ['/a', 'delivered'],
      ['/b', 'failed'],
      ['/c', 'failed'],
    ]);
    const [{ last_error: lastError }] = (await env.db.$client<{ last_error: string }[]>`select last_error from deliveries where id = ${rows[1]!.id}`) as unknown as [{ last_error: string }];
    expect(lastError).toBe('database unavailable');
  });

  it('reads a group’s members alone, by their partial index, on the plan the workers make once', async () => {
    // Other groups' rows, pending and sent, around a group of three.
    await env.db.$client`
      insert into deliveries (event_id, tenant_id, channel, destination, state, job_group)
      select 'grp_plan', 'acme', 'webhook', 'backlog_' || n, (array['pending', 'delivered'])[1 + n % 2], gen_random_uuid()::text
      from generate_series(1, 2000) as n`;
    const group = crypto.randomUUID();
    await env.db.$client`
      insert into deliveries (event_id, tenant_id, channel, destination, state, job_group)
      select 'grp_plan', 'acme', 'webhook', 'member_' || n, (array['pending', 'pending', 'delivered'])[n], ${group}
      from generate_series(1, 3) as n`;
    await env.db.$client`analyze deliveries`;
    const plan = await executedGenericPlan(env.db, groupMembersQuery(env.db).getSQL(), { placeholders: { group } });
    expect(accessPaths(plan, 'deliveries')).toEqual(['Index Scan using deliveries_job_group_idx']);
    expect(rowsRead(plan, 'deliveries')).toBe(2);
  });
});
