import type { z } from 'zod';

export type FieldProblem = { field: string; message: string };

/** Turns zod issues into `[{field, message}]`, the field as a dotted path (`approval.requesterId`, `events.3.type`). */
export function fieldProblems(error: z.ZodError, prefix: (string | number)[] = []): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: [...prefix, ...issue.path].map(String).join('.') || '(body)',
    message: issue.message,
  }));
}

export function describeProblems(problems: FieldProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}

/**
 * How deep JSON input may nest. Anything deeper is refused up front: walking it — here, in
 * zod, in JSON.stringify — would exhaust the stack, and no notification needs it.
 */
export const MAX_JSON_DEPTH = 64;

export type Unstorable = { path: (string | number)[]; problem: 'text' | 'depth'; message: string };

// Code units, not code points (no `u` flag): a high surrogate without its low half, or a low one without its high half.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Any surrogate at all: almost no text has one, and this test is far cheaper than LONE_SURROGATE's lookarounds. */
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/** Why Postgres would refuse this text, if it would: it stores neither U+0000 nor half a UTF-16 surrogate pair (in jsonb). */
function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain the NUL character (\\u0000)';
  if (ANY_SURROGATE.test(text) && LONE_SURROGATE.test(text)) return 'must be well-formed Unicode (it holds half of a UTF-16 surrogate pair)';
  return null;
}

/**
 * The first place in a JSON value Herald cannot take: text Postgres cannot store (a NUL
 * character, a lone surrogate — in a string or a key), or nesting deeper than MAX_JSON_DEPTH.
 * Its own recursion stops at that depth, so any input is safe to hand it.
 */
export function findUnstorable(value: unknown): Unstorable | null {
  return unstorableIn(value, 0);
}

/**
 * findUnstorable's walk. The path is built on the way back from a problem, so a clean value —
 * every event of every batch — is walked without allocating: a path copied per field and an
 * entries array per object made it 1.4 µs an event, 0.6 without (a bench event, this machine).
 */
function unstorableIn(value: unknown, depth: number): Unstorable | null {
  if (typeof value === 'string') {
    const message = textProblem(value);
    return message ? { path: [], problem: 'text', message } : null;
  }
  if (!value || typeof value !== 'object') return null;
  if (depth >= MAX_JSON_DEPTH) return { path: [], problem: 'depth', message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableIn(value[i], depth + 1);
      if (found) return { ...found, path: [i, ...found.path] };
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const keyProblem = textProblem(key);
    if (keyProblem) return { path: [key], problem: 'text', message: keyProblem };
    const found = unstorableIn((value as Record<string, unknown>)[key], depth + 1);
    if (found) return { ...found, path: [key, ...found.path] };
  }
  return null;
}
