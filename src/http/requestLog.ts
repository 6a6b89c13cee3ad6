import type { RequestHandler } from 'express';
import { redactUrl, type Logger } from '../logger.ts';
import { httpRequestSeconds } from '../metrics/processMetrics.ts';

const QUIET_PATHS = new Set(['/healthz', '/readyz']);

/**
 * Times every request under its route pattern (not its URL, which would explode the label set)
 * and logs it when it finishes: refusals at warn, failures at error, and successful ones only
 * at debug — intake answers thousands a second, and a line for each would be the hot path's
 * biggest cost while /metrics already counts them. Headers are never logged (they carry
 * credentials), and a token in the query string is redacted.
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.statusCode;
      httpRequestSeconds.observe({ method: req.method, route, status: String(status) }, seconds);
      const level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'debug';
      if (!logger.isLevelEnabled(level) || QUIET_PATHS.has(req.path)) return;
      logger[level]({ req: { method: req.method, url: redactUrl(req.originalUrl) }, res: { statusCode: status }, responseTimeMs: seconds * 1000 }, 'request completed');
    });
    next();
  };
}
