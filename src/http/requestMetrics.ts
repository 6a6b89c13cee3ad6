import type { RequestHandler } from 'express';
import { httpRequestSeconds } from '../metrics/processMetrics.ts';

/** Times every request under its route pattern (not its URL, which would explode the label set). */
export function requestMetrics(): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      httpRequestSeconds.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
    });
    next();
  };
}
