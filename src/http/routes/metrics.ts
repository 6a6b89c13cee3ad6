import { Router } from 'express';
import { registry } from '../../metrics/processMetrics.ts';

/** SPEC §8: Prometheus metrics of this API process (queue depths, streams, HTTP, deliveries seen here). */
export function metricsRouter(): Router {
  const router = Router();
  router.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
