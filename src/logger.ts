import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line: credentials, and URLs whose path is itself a secret
 * (a Slack incoming-webhook path grants posting rights).
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.secret',
  '*.signingSecret',
  '*.webhookUrl',
  '*.slackWebhookUrl',
  '*.teamsWebhookUrl',
  '*.token',
  '*.password',
];

export function createLogger(level: string, name = 'herald'): Logger {
  return pino({
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

const SECRET_QUERY_PARAMS = /([?&](?:access_token|token)=)[^&#]*/gi;

/** Removes bearer tokens passed in a query string (`?access_token=`), for request logs. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, '$1[redacted]');
}
