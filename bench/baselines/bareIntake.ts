import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createExpressServer } from '../../src/http/expressServer.ts';
import type { StartedRole } from '../child.ts';

/**
 * Intake baseline: the least an Express endpoint can do for the same request — parse the JSON
 * body (express.json, same limit) and answer 202 — with the same server settings as Herald's web,
 * requests and responses built of the app's prototypes included (createExpressServer).
 * BENCH_STOCK_EXPRESS=1 serves it as most Express apps are served, `http.createServer(app)`: the
 * baseline of the runs before createExpressServer, measured beside it for comparison.
 */
export async function startBareIntake(): Promise<StartedRole> {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '256kb' }));
  app.post('/api/v1/events', (req, res) => {
    res.status(202).json({ id: (req.body as { id?: string }).id, status: 'accepted' });
  });
  app.post('/api/v1/events/batch', (req, res) => {
    const events = (req.body as { events: { id?: string }[] }).events;
    res.status(200).json({ results: events.map((e) => ({ id: e.id, status: 'accepted' })) });
  });
  const server = process.env.BENCH_STOCK_EXPRESS === '1' ? createServer(app) : createExpressServer(app);
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
