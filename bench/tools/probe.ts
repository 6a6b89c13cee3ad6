/**
 * `npx tsx bench/tools/probe.ts [count]`: one event at a time through the whole pipeline (every
 * Procfile process as its own child), timing POST → 202 and POST → notification frame. A quick
 * look at the length of the chain of hops, without load; not part of `npm run bench`.
 */
import { createBenchEnv, createJsonClient, percentile, sleep } from '../harness.ts';
import { openSse } from '../sseClient.ts';

const COUNT = Number(process.argv[2] ?? 200);
const env = await createBenchEnv('probe');
try {
  await env.seedTenant('acme');
  await env.sql`insert into users (id, email, name, tenant_ids) values ('p1', 'p1@bench.example', 'p1', array['acme'])`;
  const web = await env.spawnPipeline();
  let resolveFrame: ((at: number) => void) | null = null;
  const stream = await openSse(`${web.url}/api/v1/events`, { authorization: `Bearer ${await env.userToken('p1', ['acme'])}` }, {
    onFrame: (frame, at) => {
      if (frame.type === 'notification') resolveFrame?.(at);
    },
  });
  const client = createJsonClient(web.url, 4);
  const accepted: number[] = [];
  const framed: number[] = [];
  for (let i = 0; i < COUNT + 20; i++) {
    const frame = new Promise<number>((resolve) => (resolveFrame = resolve));
    const sent = performance.now();
    const res = await client.post('/api/v1/events', { id: `probe_${i}`, type: 'finding_created', tenantId: 'acme', assigneeUserIds: ['p1'], data: { title: 'x' } });
    const acceptedAt = performance.now();
    if (res.status !== 202) throw new Error(`publish answered ${res.status}`);
    const at = await frame;
    if (i >= 20) {
      accepted.push(acceptedAt - sent);
      framed.push(at - sent);
    }
    await sleep(10);
  }
  const show = (name: string, values: number[]) =>
    console.log(`${name}: p50 ${percentile(values, 50).toFixed(2)} ms, p90 ${percentile(values, 90).toFixed(2)} ms, p99 ${percentile(values, 99).toFixed(2)} ms, min ${percentile(values, 0).toFixed(2)} ms`);
  show('POST → 202  ', accepted);
  show('POST → frame', framed);
  stream.close();
  client.close();
} finally {
  await env.cleanup();
}
process.exit(0);
