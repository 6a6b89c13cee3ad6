import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';

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
