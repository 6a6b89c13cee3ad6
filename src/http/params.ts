import type { Request } from 'express';

/** A named path segment as a string (Express 5 types allow arrays for wildcard segments). */
export function pathParam(req: Request, name: string): string {
  const value = req.params[name];
  return Array.isArray(value) ? value.join('/') : (value ?? '');
}
