import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import type { CpuUse, DatabaseWork } from './harness.ts';

/** One row of the table and one entry of latest.json. */
export type Figure = {
  /** The scenario. */
  name: string;
  metric: string;
  unit: string;
  herald: number | null;
  baseline: number | null;
  /** Herald ÷ baseline (for times: how many times slower; for rates: what share of the baseline). */
  ratio: number | null;
  goal: string;
  /** null: informational, or skipped. */
  met: boolean | null;
  /** Why a row was skipped or failed, or what it counted on the side (e.g. lost events). */
  note?: string;
};

export function ratioOf(herald: number | null, baseline: number | null): number | null {
  if (herald === null || baseline === null || !Number.isFinite(herald) || !Number.isFinite(baseline) || baseline === 0) return null;
  return herald / baseline;
}

/** What databaseWorkOf counted for one variant of a step, the events it sent, and the scenario's own queries among its transactions. */
export type StepWork = { work: DatabaseWork; events: number; ownQueries?: number };

/**
 * Each routing pass reads its directory and its tenants' rule versions in one statement, once
 * (readDirectory in src/routing/directory.ts; a second time only when rules changed meanwhile),
 * so counting that statement counts the router's passes over groups of events.
 */
const ROUTING_PASS = /^select \(select coalesce\(json_agg\(json_build_object\( 'id', u\.id, 'name', u\.name,/;

/**
 * What the router process runs besides routing, on its own clock: the outbox sweeper (every 5 s:
 * unrouted events, pending deliveries without jobs, overdue scheduled ones, unwritten in-app
 * batches, and an older router's pending in-app deliveries when there are any), the retention
 * sweep, and the array types postgres.js reads once on each new connection (the pool closes a
 * connection idle for 30 s and opens another when a pass needs it). A step of three routing
 * passes can hold one more of these than another, so they are taken out of the routing count;
 * each is one round trip (postgres.js sends a Sync per query).
 */
const BACKGROUND_STATEMENTS = [
  /^select tenant_id, id, accepted_at::text as accepted_at from event_outbox /,
  /^select id, tenant_id, event_id, channel, updated_at::text as updated_at from deliveries /,
  /^select id, tenant_id, event_id, channel from deliveries where state = 'scheduled'/,
  /^select id::text, tenant_id, event_id, batch, created_at::text from inapp_batches /,
  /^select tenant_id, event_id, batch, priority, recipients from inapp_batches /,
  /^with written as \(/,
  /^with gone as \(/,
  /^select b\.oid, b\.typarray from pg_catalog\.pg_type /,
];

/**
 * Marking passes routed (finishRouting): one statement for however many passes finished within
 * its linger, so how many there are per pass is timing, not rules. Counted apart, in the note.
 */
const FINISHING_STATEMENT = /^delete from event_outbox/;

const ROUND_TRIP_TOLERANCE = 0.05;

const isBackground = (sql: string) => BACKGROUND_STATEMENTS.some((pattern) => pattern.test(sql));

function routingOf(step: StepWork) {
  const router = step.work.byRole.router ?? { roundTrips: 0, executions: {} };
  const count = (pattern: (sql: string) => boolean) => Object.entries(router.executions).reduce((n, [sql, times]) => (pattern(sql) ? n + times : n), 0);
  const passes = count((sql) => ROUTING_PASS.test(sql));
  const background = count(isBackground);
  const finishing = count((sql) => FINISHING_STATEMENT.test(sql));
  return { passes, finishing, perPass: passes === 0 ? Number.NaN : (router.roundTrips - background - finishing) / passes };
}

/**
 * A per-event count for a note: two decimals (three below 1, where per-event CPU figures of
 * ~0.1 ms differ), or a dash where there was nothing to divide by.
 */
export const fixed = (n: number) => (!Number.isFinite(n) ? '—' : Math.abs(n) < 1 ? n.toFixed(3) : n.toFixed(2));

/** The Postgres, Redis and whole-machine CPU of `cpu` for a note, each as `perUnit` turns its ms (per event, per delivery). */
export const sharedCpuNote = (cpu: CpuUse, perUnit: (ms: number) => number) =>
  `Postgres ${fixed(perUnit(cpu.services.postgres))}, Redis ${fixed(perUnit(cpu.services.redis))}, the whole machine ${fixed(perUnit(cpu.machineSeconds * 1000))}`;

/**
 * Issue #16's check: the Postgres round trips of a routing pass in a step against the same step
 * without the extra rules (the baseline), counted on the router's wire. Per event they depend on
 * how many events each pass took, which timing decides, so the note gives them by role with the
 * pass counts, and pg_stat_database's transactions per event.
 */
export function roundTripsFigure(name: string, metric: string, herald: StepWork, baseline: StepWork): Figure {
  const [h, b] = [routingOf(herald), routingOf(baseline)];
  const ratio = ratioOf(h.perPass, b.perPass);
  const perEvent = (n: number, step: StepWork) => fixed(n / step.events);
  const roles = [...new Set([...Object.keys(herald.work.byRole), ...Object.keys(baseline.work.byRole)])]
    .map((role) => [role, herald.work.byRole[role]?.roundTrips ?? 0, baseline.work.byRole[role]?.roundTrips ?? 0] as const)
    .filter(([, hn, bn]) => hn + bn > 0)
    .map(([role, hn, bn]) => `${role} ${perEvent(hn, herald)} vs ${perEvent(bn, baseline)}`);
  const transactions = (step: StepWork) => perEvent(step.work.transactions - (step.ownQueries ?? 0), step);
  const met = ratio !== null && Math.abs(ratio - 1) <= ROUND_TRIP_TOLERANCE;
  return {
    name,
    metric,
    unit: 'rt/pass',
    herald: h.perPass,
    baseline: b.perPass,
    ratio,
    goal: `same round trips (1.0× ± ${ROUND_TRIP_TOLERANCE * 100}%)`,
    met,
    note:
      `${herald.events} events in ${h.passes} routing passes vs ${baseline.events} in ${b.passes}, marked routed by ${h.finishing} vs ${b.finishing} statements (not in the per-pass figure); round trips per event by role: ${roles.join(', ')}; ` +
      `pg_stat_database transactions per event (autovacuum's included): ${transactions(herald)} vs ${transactions(baseline)}` +
      (met ? '' : `; ${whatDiffers(herald, h.passes, baseline, b.passes)}`),
  };
}

/**
 * What an unequal figure is made of: the router's statements (background and finishing ones
 * left out, as in the figure) run a different number of times per pass in the two variants —
 * a rules or templates cache read again, say — so a reader need not rerun the step to see why.
 */
function whatDiffers(herald: StepWork, heraldPasses: number, baseline: StepWork, baselinePasses: number): string {
  const [h, b] = [herald, baseline].map((step) => step.work.byRole.router?.executions ?? {}) as [Record<string, number>, Record<string, number>];
  const differing = [...new Set([...Object.keys(h), ...Object.keys(b)])]
    .filter((sql) => !isBackground(sql) && !FINISHING_STATEMENT.test(sql))
    .map((sql) => ({ sql, herald: (h[sql] ?? 0) / heraldPasses, baseline: (b[sql] ?? 0) / baselinePasses }))
    .filter((s) => Math.abs(s.herald - s.baseline) > ROUND_TRIP_TOLERANCE * Math.max(s.herald, s.baseline))
    // The texts come shortened and on one line from pgWireCounter.
    .map((s) => `${fixed(s.herald)} vs ${fixed(s.baseline)}: ${s.sql.slice(0, 80)}`);
  return differing.length > 0
    ? `the router's statements per pass that differ: ${differing.join('; ')}`
    : `no statement ran more often per pass: the difference is in round trips per statement (a statement's first run on a pooled connection prepares it, a second round trip)`;
}

export function skipped(name: string, metrics: { metric: string; unit: string; goal: string }[], reason: string): Figure[] {
  return metrics.map((m) => ({ name, ...m, herald: null, baseline: null, ratio: null, met: null, note: `skipped: ${reason}` }));
}

export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    date: new Date().toISOString(),
  };
}

function formatNumber(value: number | null, unit = ''): string {
  if (value === null) return '—';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${text} ${unit}` : text;
}

function formatRatio(ratio: number | null): string {
  return ratio === null ? '—' : `${formatNumber(ratio)}×`;
}

export function formatTable(figures: Figure[]): string {
  const header = ['figure', 'Herald', 'baseline', 'ratio', 'goal', 'met'];
  const rows = figures.map((f) => [
    `${f.name}: ${f.metric}`,
    f.note?.startsWith('skipped') ? f.note : formatNumber(f.herald, f.unit),
    formatNumber(f.baseline, f.unit),
    formatRatio(f.ratio),
    f.goal,
    f.met === null ? '—' : f.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const notes = figures.filter((f) => f.note && !f.note.startsWith('skipped')).map((f) => `  ${f.name} ${f.metric}: ${f.note}`);
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line), ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}

export function writeResults(path: string, figures: Figure[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const round = (v: number | null) => (v === null || !Number.isFinite(v) ? null : Math.round(v * 1000) / 1000);
  const scenarios = figures.map((f) => ({
    name: f.name,
    metric: f.metric,
    unit: f.unit,
    herald: round(f.herald),
    baseline: round(f.baseline),
    ratio: round(f.ratio),
    goal: f.goal,
    met: f.met,
    ...(f.note ? { note: f.note } : {}),
  }));
  writeFileSync(path, `${JSON.stringify({ machine: machineInfo(), scenarios }, null, 2)}\n`);
}
