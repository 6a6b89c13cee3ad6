import type { ErrorRequestHandler, Request } from 'express';
import { driverErrorCode, HttpError, isDatabaseUnavailable } from '../errors.ts';
import { redactUrl, type Logger } from '../logger.ts';
import { findUnstorable } from '../validation.ts';

type BodyParserError = { type?: string; status?: number };

/** Renders every error as `{"error": {"code", "message", "details"}}` with the status it deserves. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const rendered = render(err, req);
    if (rendered.status >= 500) logger.error({ err, req: { method: req.method, url: redactUrl(req.originalUrl) } }, 'request failed');
    // A response already under way (a live stream) cannot be answered again; end it instead.
    if (res.headersSent) return res.end();
    for (const [name, value] of Object.entries(rendered.headers)) res.setHeader(name, value);
    res.status(rendered.status).json({
      error: { code: rendered.code, message: rendered.message, details: rendered.details },
    });
  };
}

type Rendered = { status: number; code: string; message: string; details: unknown[]; headers: Record<string, string> };

const invalid = (field: string, message: string): Rendered => ({
  status: 400,
  code: 'invalid_request',
  message: `${field}: ${message}`,
  details: [{ field, message }],
  headers: {},
});

function render(err: unknown, req: Request): Rendered {
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
    const message = String((err as Error).message);
    if (parserError.status === 400) return invalid('(body)', message);
    return { status: parserError.status, code: 'invalid_request', message, details: [], headers: {} };
  }
  // The router could not percent-decode a path segment (`%ZZ`, a cut-off UTF-8 sequence).
  if (err instanceof URIError && parserError.status === 400) return invalid('(path)', 'malformed percent-encoding');
  // Postgres cannot store or compare text holding U+0000 or half a surrogate pair: when the
  // request carried such text, it is the caller's to fix, and the answer says where it is.
  const unstorable = isUnstorableTextError(err) ? unstorableTextIn(req) : null;
  if (unstorable) return invalid(unstorable.field, unstorable.message);
  if (isDatabaseUnavailable(err)) {
    return { status: 503, code: 'unavailable', message: 'storage is unavailable; retry later', details: [], headers: { 'Retry-After': '5' } };
  }
  return { status: 500, code: 'internal', message: 'internal error', details: [], headers: {} };
}

/** character_not_in_repertoire (a NUL in text), invalid_text_representation (bad JSON escapes), untranslatable_character. */
const isUnstorableTextError = (err: unknown): boolean => ['22021', '22P02', '22P05'].includes(driverErrorCode(err) ?? '');

/** Where a request carries text Postgres cannot take: a path segment, a query parameter, or a body field. */
function unstorableTextIn(req: Request): { field: string; message: string } | null {
  if (/%00/.test(req.originalUrl.split('?')[0] ?? '')) return { field: '(path)', message: 'must not contain the NUL character (\\u0000)' };
  for (const [name, value] of Object.entries(req.query ?? {})) {
    const found = findUnstorable(value);
    if (found?.problem === 'text') return { field: name, message: found.message };
  }
  const found = findUnstorable(req.body);
  return found?.problem === 'text' ? { field: found.path.map(String).join('.') || '(body)', message: found.message } : null;
}
