/**
 * `npm run bench [-- <name filter>...]`: runs every scenario (or those whose name contains one
 * of the filters), prints the table and writes bench/results/latest.json. Every figure is
 * measured against a baseline in the same run, on the same machine.
 */
import { fileURLToPath } from 'node:url';
import { killAllChildren, LOG_DIR, type Scenario } from './harness.ts';
import { formatTable, machineInfo, writeResults, type Figure } from './report.ts';
import { clusterScaleOut } from './scenarios/cluster.ts';
import { email } from './scenarios/email.ts';
import { fanout } from './scenarios/fanout.ts';
import { intake } from './scenarios/intake.ts';
import { publishToFrame } from './scenarios/publishToFrame.ts';
import { sseScale } from './scenarios/sseScale.ts';
import { webhook } from './scenarios/webhook.ts';

const scenarios: Scenario[] = [intake, publishToFrame, fanout, sseScale, webhook, email, clusterScaleOut];
const RESULTS = fileURLToPath(new URL('./results/latest.json', import.meta.url));

const args = process.argv.slice(2);
if (args.includes('--list')) {
  for (const s of scenarios) console.log(`${s.name.padEnd(16)} ${s.summary}`);
  process.exit(0);
}
const filters = args.filter((a) => !a.startsWith('-'));
const selected = filters.length === 0 ? scenarios : scenarios.filter((s) => filters.some((f) => s.name.toLowerCase().includes(f.toLowerCase())));
if (selected.length === 0) {
  console.error(`no scenario matches ${filters.join(', ')}; try --list`);
  process.exit(2);
}

process.on('SIGINT', () => {
  killAllChildren();
  process.exit(130);
});

const machine = machineInfo();
console.log(`Herald bench on ${machine.cpus}× ${machine.cpuModel}, ${machine.memGiB} GiB, Node ${machine.node}, ${machine.os}`);
console.log(`child process logs: ${LOG_DIR}\n`);

const figures: Figure[] = [];
let failures = 0;
const started = performance.now();
for (const scenario of selected) {
  const t0 = performance.now();
  console.log(`▶ ${scenario.name}: ${scenario.summary}`);
  try {
    const result = await scenario.run();
    figures.push(...result);
    console.log(`${formatTable(result)}\n  (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  } catch (err) {
    failures++;
    const message = err instanceof Error ? err.message : String(err);
    console.error(`  ${scenario.name} failed: ${err instanceof Error ? err.stack : message}\n`);
    figures.push({ name: scenario.name, metric: 'run', unit: '', herald: null, baseline: null, ratio: null, goal: 'completes', met: false, note: `failed: ${message}` });
  }
}

writeResults(RESULTS, figures);
console.log(`All figures (${((performance.now() - started) / 1000).toFixed(0)} s):\n`);
console.log(formatTable(figures));
console.log(`\nwritten to ${RESULTS}`);
killAllChildren();
process.exit(failures > 0 ? 1 : 0);
