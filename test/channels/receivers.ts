import { pino, type Logger } from 'pino';
import { REDACTED_PATHS } from '../../src/logger.ts';
import { startLocalServer, type LocalServer, type ReceivedRequest } from '../outbound/localServer.ts';

/** How the receiver answers one request: a status (with headers), or never. */
export type Reply = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export type Arrival = ReceivedRequest & { path: string; at: number };

export type ScriptedReceiver = LocalServer & {
  /** Replies for the next requests to `path`, in order; after them it answers 200. */
  script(path: string, ...replies: Reply[]): void;
  arrivals(path: string): Arrival[];
};

/** A real HTTP receiver on 127.0.0.1 whose answers each test scripts per path. */
export async function startScriptedReceiver(): Promise<ScriptedReceiver> {
  const scripts = new Map<string, Reply[]>();
  const arrivals: Arrival[] = [];
  const server = await startLocalServer((req, res) => {
    const path = new URL(req.url, 'http://receiver').pathname;
    arrivals.push({ ...req, path, at: Date.now() });
    const reply = scripts.get(path)?.shift() ?? { status: 200 };
    if (reply === 'hang') return;
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body ?? (reply.status < 300 ? 'ok' : 'refused'));
  });
  return {
    ...server,
    script: (path, ...replies) => scripts.set(path, replies),
    arrivals: (path) => arrivals.filter((a) => a.path === path),
  };
}

/** A logger that keeps every line (debug and up) with production redaction, to check what logs would show. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}
