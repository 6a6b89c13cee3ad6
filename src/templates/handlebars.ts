import Handlebars from 'handlebars';
import { humanize, safeLink } from './defaultContent.ts';

/**
 * Herald's own Handlebars instance: helpers registered here cannot leak into (or be replaced
 * by) any other user of the global instance. Prototype access stays at Handlebars 4.7's default
 * (blocked), so `{{data.constructor}}` and friends render nothing.
 */
const hb = Handlebars.create();

const HELPERS: Record<string, (...args: unknown[]) => unknown> = {
  humanize: (value) => (typeof value === 'string' ? humanize(value) : ''),
  safeUrl: (value) => safeLink(value) ?? '',
  /** An ISO timestamp as `23 Nov 2026, 10:00 UTC`; anything else unchanged. */
  formatDate: (value) => {
    const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) return typeof value === 'string' ? value : '';
    return `${date.toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: 'UTC' })} UTC`;
  },
};
for (const [name, helper] of Object.entries(HELPERS)) hb.registerHelper(name, helper);

const KNOWN_HELPERS = Object.fromEntries(Object.keys(HELPERS).map((name) => [name, true]));

/** A template error a caller can fix: which field, and where in it. */
export class TemplateError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly line: number | null,
    readonly column: number | null,
  ) {
    super(`${field}: ${line === null ? '' : `line ${line}: `}${reason}`);
  }
}

export type RenderFn = (context: object) => string;

/**
 * Compiles one template field, failing now (not at first render) with the line of a syntax
 * error. Unknown helpers are compile errors too, since a typo'd helper would otherwise surface
 * only when an event arrives. `html` fields are HTML-escaped; plain-text fields (subject, text,
 * title, body) are not, because escaping would show readers `&amp;` instead of `&`.
 */
export function compileField(field: string, source: string, escape: boolean): RenderFn {
  const options = { noEscape: !escape, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true, strict: false };
  const template = hb.compile(source, options);
  try {
    // Handlebars compiles on first call; calling it now with nothing surfaces syntax errors here.
    template({});
  } catch (err) {
    throw templateErrorOf(field, err);
  }
  return (context) => {
    try {
      return template(context);
    } catch (err) {
      throw templateErrorOf(field, err);
    }
  };
}

/** Handlebars reports parse errors as "Parse error on line N:" text and compile errors with `lineNumber`. */
function templateErrorOf(field: string, err: unknown): TemplateError {
  const e = err as { message?: string; lineNumber?: unknown; column?: unknown };
  const message = String(e.message ?? err);
  const parse = /^Parse error on line (\d+):\n[^\n]*\n[^\n]*\n([\s\S]*)$/.exec(message);
  if (parse) return new TemplateError(field, `parse error: ${parse[2]!.trim()}`, Number(parse[1]), null);
  const line = typeof e.lineNumber === 'number' ? e.lineNumber : null;
  const column = typeof e.column === 'number' ? e.column : null;
  return new TemplateError(field, message.replace(/ - \d+:\d+$/, ''), line, column);
}
