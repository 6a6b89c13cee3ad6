import type { Request } from 'express';
import { z } from 'zod';
import { badRequest } from '../errors.ts';
import { describeProblems, fieldProblems } from '../validation.ts';

/** Parses input or throws a 400 `invalid_request` whose message and details name the field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, prefix: (string | number)[] = []): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = fieldProblems(result.error, prefix);
  throw badRequest(describeProblems(problems), problems);
}

/** A named path segment as a string (Express 5 types allow arrays for wildcard segments). */
export function pathParam(req: Request, name: string): string {
  const value = req.params[name];
  return Array.isArray(value) ? value.join('/') : (value ?? '');
}

/** Ids Herald generates itself (rules, templates, deliveries) are UUIDs; anything else cannot name one. */
export const generatedIdSchema = z.uuid();
