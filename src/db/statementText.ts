import { Column, entityKind, Name, Param, Placeholder, SQL, StringChunk, Table } from 'drizzle-orm';
import type { PgDialect } from 'drizzle-orm/pg-core';

type Query = ReturnType<PgDialect['sqlToQuery']>;

/** A step of a statement's shape: a text, a parameter, a nested fragment's bounds, a column or table. */
type Node = { next: Map<unknown, Node>; built?: { sql: string; typings: Query['typings'] } | 'uncacheable' };

const PARAM = Symbol('param');
const OPEN = Symbol('(');
const CLOSE = Symbol(')');
const NAME = Symbol('name');
const EMPTY = Symbol('undefined');

/**
 * Steps kept per dialect (a routing write's shape is a few hundred): past them no new shape is
 * laid, so a statement whose shape varies without bound — sql.raw of changing text — cannot grow
 * the cache; such statements, and every new shape after, are drizzle's to build.
 */
const MAX_STEPS = 50_000;

/**
 * Drizzle's text of a statement, built once per shape instead of at every run. Drizzle builds a
 * statement's text from its tree of fragments each time it runs one, checking every fragment
 * against a dozen kinds by walking its prototype chain: a tenth of the router's CPU at 200 events/s
 * (its CPU profile; kept per shape, the router spent 9% less CPU an event there and 4% less at 1,000 in
 * alternating bench/tools/traceChain.ts pairs, docs/benchmarks.md).
 * The text depends only on the shape — the template strings, which fragments nest where, the
 * columns and tables named, where the parameters go — never on the parameters' values, so the
 * first build of a shape serves every later statement of that shape; each run then only walks
 * its tree for the values, in drizzle's order and mapped as drizzle maps them.
 *
 * What the walk does not know (inlined parameters, spelled-out lists, aliases, subqueries,
 * placeholders, anything else drizzle can nest) makes the statement drizzle's to build, every
 * time. The first build of a shape is checked: unless the walk found the very parameters drizzle
 * did, the shape is drizzle's for good.
 */
export function cacheStatementText(dialect: PgDialect): void {
  const build = dialect.sqlToQuery.bind(dialect);
  const shapes: Shapes = { root: { next: new Map() }, steps: 0 };

  dialect.sqlToQuery = (statement: SQL, invokeSource?: Parameters<PgDialect['sqlToQuery']>[1]): Query => {
    if (invokeSource !== undefined) return build(statement, invokeSource);
    const params: unknown[] = [];
    const shape = walk(statement, shapes.root, shapes, params);
    if (shape === null || shape.built === 'uncacheable') return build(statement);
    if (shape.built) return { sql: shape.built.sql, params, ...(shape.built.typings && { typings: shape.built.typings }) };
    const query = build(statement);
    shape.built = sameParams(query.params, params) ? { sql: query.sql, typings: query.typings } : 'uncacheable';
    return query;
  };
}

type Shapes = { root: Node; steps: number };

/** Follows (or lays) the path of `statement`'s shape from `node`, collecting its parameters; null when the statement is not one the walk knows. */
function walk(statement: SQL, node: Node, shapes: Shapes, params: unknown[]): Node | null {
  // sql`…`.inlineParams(): the values go into the text (drizzle keeps the flag private).
  if ((statement as unknown as { shouldInlineParams: boolean }).shouldInlineParams) return null;
  let at: Node | null = node;
  for (const chunk of statement.queryChunks) {
    at = step(chunk, at, shapes, params);
    if (at === null) return null;
  }
  return at;
}

function step(chunk: unknown, at: Node, shapes: Shapes, params: unknown[]): Node | null {
  if (chunk === undefined) return child(at, EMPTY, shapes);
  if (chunk === null || typeof chunk !== 'object') {
    if (typeof chunk === 'function') return null; // a pg enum, or something else drizzle renders
    params.push(chunk);
    return child(at, PARAM, shapes);
  }
  if (chunk instanceof StringChunk) return child(at, chunk.value.length === 1 ? chunk.value[0] : chunk.value.join(''), shapes);
  if (chunk instanceof SQL && chunk.constructor === SQL) {
    const open = child(at, OPEN, shapes);
    const inner = open && walk(chunk, open, shapes, params);
    return inner && child(inner, CLOSE, shapes);
  }
  if (chunk instanceof Param) {
    if (chunk.value instanceof Placeholder) return null;
    const value = chunk.value === null ? null : chunk.encoder.mapToDriverValue(chunk.value);
    if (value instanceof SQL) return null;
    params.push(value);
    return child(at, PARAM, shapes);
  }
  if (chunk instanceof Name) {
    const name = child(at, NAME, shapes);
    return name && child(name, chunk.value, shapes);
  }
  // A column's or table's text is fixed by the object itself. (An aliased table's columns are new
  // objects at each access: their statements lay new steps until MAX_STEPS, then are drizzle's.)
  if (chunk instanceof Column || chunk instanceof Table) return child(at, chunk, shapes);
  // Lists (spelled out as `(a, b, …)`), aliases, subqueries, views, anything with getSQL: drizzle's to build.
  const kind: unknown = (chunk as { constructor?: unknown }).constructor;
  if (Array.isArray(chunk) || (typeof kind === 'function' && entityKind in kind) || typeof (chunk as { getSQL?: unknown }).getSQL === 'function') return null;
  params.push(chunk);
  return child(at, PARAM, shapes);
}

/** The step after `node` by `key`, laid if new and the cache has room; null when it has none. */
function child(node: Node, key: unknown, shapes: Shapes): Node | null {
  let next = node.next.get(key);
  if (next === undefined) {
    if (shapes.steps >= MAX_STEPS) return null;
    shapes.steps++;
    next = { next: new Map() };
    node.next.set(key, next);
  }
  return next;
}

/**
 * Whether the walk found drizzle's parameters, value for value. Herald's columns map values to
 * text (a date's, a JSON document's), which compares equal however often it is made; a mapping
 * that made a new object each time would make its shape drizzle's — slower, never wrong.
 */
function sameParams(built: unknown[], walked: unknown[]): boolean {
  return built.length === walked.length && built.every((value, i) => Object.is(value, walked[i]));
}
