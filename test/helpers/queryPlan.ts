import { fillPlaceholders, sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { GENERIC_PLAN_SETTINGS, type Db } from '../../src/db/client.ts';

/** A plan node of EXPLAIN (ANALYZE, FORMAT JSON), with the fields the plan tests read. */
export type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Actual Loops': number;
  'Actual Rows': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
};

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/** Runs `statement` under EXPLAIN ANALYZE (so it takes effect) and returns every node of its plan; with `buffers`, each node's blocks read. */
export async function executedPlan(db: Db, statement: SQL, { buffers = false }: { buffers?: boolean } = {}): Promise<PlanNode[]> {
  const options = buffers ? sql`analyze, buffers, format json` : sql`analyze, format json`;
  const [row] = await db.execute<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(sql`explain (${options}) ${statement}`);
  return nodesOf(row!['QUERY PLAN'][0].Plan);
}

/** A parameter as an SQL literal of unknown type, which EXECUTE casts to its parameter's. */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  const element = (v: unknown) => (v === null || v === undefined ? 'NULL' : `"${String(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
  const text = Array.isArray(value) ? `{${value.map(element).join(',')}}` : value instanceof Date ? value.toISOString() : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * executedPlan for a statement run as a prepared statement's generic plan, as it is planned on a
 * connection with GENERIC_PLAN_SETTINGS (the router's small passes, the delivery workers) or
 * `settings` that include them: PREPARE, then EXPLAIN ANALYZE EXECUTE with the parameters
 * (`placeholders` filling a prepared query's) as literals, on one connection of its own.
 */
export async function executedGenericPlan(
  db: Db,
  statement: SQL,
  {
    placeholders = {},
    buffers = false,
    settings = GENERIC_PLAN_SETTINGS,
  }: { placeholders?: Record<string, unknown>; buffers?: boolean; settings?: typeof GENERIC_PLAN_SETTINGS & Record<string, string> } = {},
): Promise<PlanNode[]> {
  const rendered = new PgDialect().sqlToQuery(statement);
  const query = { sql: rendered.sql, params: fillPlaceholders(rendered.params, placeholders) };
  const connection = await db.$client.reserve();
  let prepared = false;
  try {
    for (const [name, value] of Object.entries(settings)) await connection.unsafe(`select set_config($1, $2, false)`, [name, value]);
    await connection.unsafe(`prepare generic_plan_probe as ${query.sql}`);
    prepared = true;
    const args = query.params.length > 0 ? `(${query.params.map(literal).join(', ')})` : '';
    const options = buffers ? 'analyze, buffers, format json' : 'analyze, format json';
    const [row] = await connection.unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(`explain (${options}) execute generic_plan_probe${args}`);
    const [kind] = await connection.unsafe<{ generic_plans: number }[]>(`select generic_plans::int from pg_prepared_statements where name = 'generic_plan_probe'`);
    if (kind?.generic_plans !== 1) throw new Error(`the settings did not make the plan generic`);
    return nodesOf(row!['QUERY PLAN'][0].Plan);
  } finally {
    // The connection goes back to the pool as it came: no probe statement, the pool's own settings.
    if (prepared) await connection.unsafe('deallocate generic_plan_probe');
    await connection.unsafe('reset all');
    connection.release();
  }
}

/** The plan's scans of `relation`, not its writes. */
const scansOf = (nodes: PlanNode[], relation: string) => nodes.filter((n) => n['Relation Name'] === relation && n['Node Type'] !== 'ModifyTable');

/** The index a scan reads: its own, or for a bitmap heap scan the one its bitmap came from (none when it ORs several). */
const indexOf = (n: PlanNode) => n['Index Name'] ?? n.Plans?.find((child) => child['Node Type'] === 'Bitmap Index Scan')?.['Index Name'];

/** The plan's scans of `relation`, as "<node type> using <index>", each once, sorted. */
export function accessPaths(nodes: PlanNode[], relation: string): string[] {
  return [...new Set(scansOf(nodes, relation).map((n) => [n['Node Type'], indexOf(n)].filter(Boolean).join(' using ')))].sort();
}

/** How many times the plan walked its input arrays (the loops of each function scan, unnest). */
export const inputWalks = (nodes: PlanNode[]): number[] => nodes.filter((n) => n['Node Type'] === 'Function Scan').map((n) => n['Actual Loops']);

/** How many rows of `relation` the plan's scans read, those its filters threw away included, over all their loops. */
export function rowsRead(nodes: PlanNode[], relation: string): number {
  return scansOf(nodes, relation).reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) * n['Actual Loops'], 0);
}

/**
 * Autovacuum off for these tables of a test file's own database: statistics are taken when a
 * test says so (ANALYZE), not whenever autovacuum looks, so each case's plan is the one it means.
 */
export async function statisticsByHand(db: Db, tables: string[]): Promise<void> {
  for (const table of tables) await db.$client.unsafe(`alter table ${table} set (autovacuum_enabled = false)`);
}
