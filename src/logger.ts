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

/** The log calls a handler makes on a logger it was given (a job's, say): a pino Logger is one. */
export type LineLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

type LineLevel = keyof LineLogger;

/**
 * A child of `parent` carrying `bindings()`, made when the first line at an enabled level is
 * written. A worker gives every job a logger with the job's ids and most jobs write nothing at
 * the levels production runs at; a pino child serializes and redacts its bindings the moment it
 * is made, which cost the webhook worker ~1.5% of its CPU per delivery (docs/benchmarks.md).
 */
export function lazyChild(parent: Logger, bindings: () => Record<string, unknown>): LineLogger {
  let child: Logger | undefined;
  const at = (level: LineLevel) =>
    function (...args: unknown[]): void {
      if (!parent.isLevelEnabled(level)) return;
      child ??= parent.child(bindings());
      (child[level] as (...line: unknown[]) => void).apply(child, args);
    } as LineLogger[LineLevel];
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
