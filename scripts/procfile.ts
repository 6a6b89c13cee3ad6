import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One process of the Procfile: its name and the command that runs it, split on spaces. */
export type ProcfileProcess = { name: string; command: string[] };

const PROCFILE = fileURLToPath(new URL('../Procfile', import.meta.url));

/** The `name: command` lines of a Procfile's text; anything else (a comment) is skipped. */
export function parseProcfile(text: string): ProcfileProcess[] {
  return text
    .split('\n')
    .map((line) => /^([\w-]+):\s*(.+)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, command: m[2]!.split(/\s+/) }));
}

/**
 * Herald's processes as the Procfile runs them. `npm start` runs these commands as they are, and
 * the bench and the tests that start a process of their own start it from here, so a Node flag
 * set in the Procfile reaches every place Herald runs.
 */
export function procfileProcesses(): ProcfileProcess[] {
  return parseProcfile(readFileSync(PROCFILE, 'utf8'));
}

/** What a process gives `node`: its flags, then its entry file. */
function nodeArgsOf({ name, command: [bin, ...args] }: ProcfileProcess): string[] {
  if (bin !== 'node') throw new Error(`the Procfile's ${name} does not run node`);
  return args;
}

/**
 * What the Procfile's process `name` gives `node`: its flags, then its entry file — for a caller
 * that runs them on a node of its own (a test's `process.execPath`, say).
 */
export function procfileNodeArgs(name: string, processes = procfileProcesses()): string[] {
  const found = processes.find((p) => p.name === name);
  if (!found) throw new Error(`the Procfile has no process named ${name}`);
  return nodeArgsOf(found);
}

/**
 * The flags every process gives `node` before its entry file (the loader, the heap's settings).
 * The bench starts its own entry with them, for Herald's processes and its baselines alike, so
 * that both run on the same runtime; that needs them to be the same on every line.
 */
export function procfileNodeFlags(processes = procfileProcesses()): string[] {
  const [first, ...rest] = processes.map((p) => nodeArgsOf(p).slice(0, -1));
  if (!first) throw new Error('the Procfile has no processes');
  if (rest.some((flags) => flags.join(' ') !== first.join(' '))) throw new Error("the Procfile's processes differ in their node flags");
  return first;
}
