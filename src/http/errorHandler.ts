import type { ErrorRequestHandler } from 'express';
import { HttpError, isDatabaseUnavailable } from '../errors.ts';

type BodyParserError = { type?: string; status?: number };

/** Renders every error as `{"error": {"code", "message", "details"}}` with the status it deserves. */
export function errorHandler(): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const rendered = render(err);
    if (rendered.status >= 500) req.log?.error({ err }, 'request failed');
    for (const [name, value] of Object.entries(rendered.headers)) res.setHeader(name, value);
    if (res.headersSent) return res.end();
    res.status(rendered.status).json({
      error: { code: rendered.code, message: rendered.message, details: rendered.details },
    });
  };
}

function render(err: unknown): { status: number; code: string; message: string; details: unknown[]; headers: Record<string, string> } {
  if (err instanceof HttpError) {
    return { status: err.status, code: err.code, message: err.message, details: err.details, headers: err.headers };
  }
  const parserError = err as BodyParserError;
  if (parserError?.type === 'entity.too.large') {
    return { status: 413, code: 'payload_too_large', message: 'request body is over 256 KiB', details: [], headers: {} };
  }
  if (parserError?.type === 'entity.parse.failed') {
    return { status: 400, code: 'invalid_request', message: 'body: malformed JSON', details: [{ field: '(body)', message: 'malformed JSON' }], headers: {} };
  }
  if (parserError?.type && parserError.status && parserError.status < 500) {
    return { status: parserError.status, code: 'invalid_request', message: String((err as Error).message), details: [], headers: {} };
  }
  if (isDatabaseUnavailable(err)) {
    return { status: 503, code: 'unavailable', message: 'storage is unavailable; retry later', details: [], headers: { 'Retry-After': '5' } };
  }
  return { status: 500, code: 'internal', message: 'internal error', details: [], headers: {} };
}
