import { pino, type DestinationStream, type Logger } from 'pino';
import { loggableError } from './errors.ts';

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

/** Errors are logged through loggableError: a database error's message may carry the query's parameters. */
export const LOG_SERIALIZERS = { err: loggableError };

/** The process's logger; `destination` is stdout unless given (a file, a test's capture). */
export function createLogger(level: string, name = 'herald', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: LOG_SERIALIZERS,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

const SECRET_QUERY_PARAMS = /([?&](?:access_token|token)=)[^&#]*/gi;

/** Removes bearer tokens passed in a query string (`?access_token=`), for request logs. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY_PARAMS, '$1[redacted]');
}
