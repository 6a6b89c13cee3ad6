import http from 'node:http';
import got from 'got';
import type { StartedRole } from '../child.ts';

type Run = { url: string; count: number; concurrency: number; maxSockets: number; body: string; headers: Record<string, string> };

/**
 * Webhook baseline: a raw got loop — `concurrency` workers posting the same kind of body over a
 * keep-alive agent with the same socket cap as Herald's outbound client. No queue, no database,
 * no signing, no URL policy: what the receiver could take from a plain client.
 */
export async function startGotLoop(_config: unknown, _logger: unknown, send: (m: Record<string, unknown>) => void): Promise<StartedRole> {
  let agent: http.Agent | undefined;
  return {
    async onMessage(message) {
      if (message.type !== 'run') return;
      const run = message as unknown as Run;
      // One agent for every run: a measured run after a warm-up one keeps its sockets, as Herald's worker does.
      agent ??= new http.Agent({ keepAlive: true, maxSockets: run.maxSockets, maxFreeSockets: run.maxSockets });
      const client = got.extend({ agent: { http: agent }, retry: { limit: 0 }, throwHttpErrors: false, followRedirect: false });
      let next = 0;
      let failed = 0;
      const started = performance.now();
      async function worker(): Promise<void> {
        while (next < run.count) {
          const i = next++;
          const res = await client.post(run.url, { body: run.body, headers: { ...run.headers, 'webhook-id': `msg_${i}` }, timeout: { request: 10_000 } }).catch(() => null);
          if (!res || res.statusCode >= 300) failed++;
        }
      }
      await Promise.all(Array.from({ length: run.concurrency }, worker));
      send({ type: 'done', failed, ms: performance.now() - started });
    },
    async close() {
      agent?.destroy();
    },
  };
}
