import { sql } from 'drizzle-orm';
import { Router } from 'express';
import { pingRedis, type RedisClient } from '../../redis.ts';
import type { Db } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';

const CHECK_TIMEOUT_MS = 2_000;

/** Whether a dependency answered in time. Why it did not goes to the log, never to the caller. */
async function probe(name: string, check: () => Promise<unknown>, logger: Logger): Promise<'ok' | 'down'> {
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
    logger.warn({ err, dependency: name }, 'readiness check failed');
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * SPEC §8: /healthz says the process is alive; /readyz says whether Postgres and Redis answer,
 * each on its own. Both are public, so /readyz names the dependency that is down and nothing
 * more: a driver's error text tells anyone where the database lives and how it is set up.
 */
export function healthRouter(deps: { db: Db; redis: RedisClient; logger: Logger }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([
      probe('postgres', () => deps.db.execute(sql`select 1`), deps.logger),
      probe('redis', () => pingRedis(deps.redis), deps.logger),
    ]);
    const ready = postgres === 'ok' && redis === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', checks: { postgres, redis } });
  });
  return router;
}
