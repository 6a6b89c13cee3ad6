import type { Request } from 'express';
import { z } from 'zod';

/** A named path segment as a string (Express 5 types allow arrays for wildcard segments). */
export function pathParam(req: Request, name: string): string {
  const value = req.params[name];
  return Array.isArray(value) ? value.join('/') : (value ?? '');
}

/** Ids Herald generates itself (rules, templates, deliveries) are UUIDs; anything else cannot name one. */
export const generatedIdSchema = z.uuid();
