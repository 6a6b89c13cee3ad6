import type { z } from 'zod';
import { badRequest } from './errors.ts';

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

/** Parses input or throws a 400 `invalid_request` whose message and details name the field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix: (string | number)[] = []): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = fieldProblems(result.error, prefix);
  throw badRequest(describeProblems(problems), problems);
}
