import { sql } from 'drizzle-orm';
import { Router } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from '../../db/client.ts';

const CHECK_TIMEOUT_MS = 2_000;

async function probe(check: () => Promise<unknown>): Promise<'ok' | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return (err as Error).message || 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

/** SPEC §8: /healthz says the process is alive; /readyz says whether Postgres and Redis answer, each on its own. */
export function healthRouter(deps: { db: Db; redis: Redis }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([probe(() => deps.db.execute(sql`select 1`)), probe(() => deps.redis.ping())]);
    const ready = postgres === 'ok' && redis === 'ok';
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'unavailable',
      checks: { postgres: postgres === 'ok' ? 'ok' : 'down', redis: redis === 'ok' ? 'ok' : 'down' },
      ...(ready ? {} : { errors: { ...(postgres !== 'ok' && { postgres }), ...(redis !== 'ok' && { redis }) } }),
    });
  });
  return router;
}
