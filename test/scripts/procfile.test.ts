import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseProcfile, procfileNodeArgs, procfileNodeFlags, procfileProcesses } from '../../scripts/procfile.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the Procfile', () => {
  it('reads name: command lines and skips comments', () => {
    expect(parseProcfile('# a comment: with a colon\nweb: node --import tsx src/http/server.ts\n\n  router:  node  workers/router.ts\n')).toEqual([
      { name: 'web', command: ['node', '--import', 'tsx', 'src/http/server.ts'] },
      { name: 'router', command: ['node', 'workers/router.ts'] },
    ]);
  });

  it('runs every process with node, the same flags, and an entry file that exists', () => {
    const processes = procfileProcesses();
    expect(processes.map((p) => p.name)).toEqual(expect.arrayContaining(['web', 'router', 'inapp', 'email', 'push', 'webhook', 'chat', 'bus']));
    const flags = procfileNodeFlags(processes);
    for (const { command } of processes) {
      expect(command.slice(0, -1)).toEqual(['node', ...flags]);
      expect(existsSync(`${root}/${command.at(-1)}`)).toBe(true);
    }
  });

  it('starts a process with its young generation at full size (16 MiB; V8 on its own starts it smaller and lets it shrink)', () => {
    const newSpaceMiB = (flags: string[]) =>
      Number(
        execFileSync(process.execPath, [...flags, '-e', "console.log(require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20)"], {
          cwd: root,
          encoding: 'utf8',
        }).trim(),
      );
    expect(newSpaceMiB(procfileNodeFlags())).toBeGreaterThanOrEqual(16);
    expect(newSpaceMiB([])).toBeLessThan(16);
  });

  it('refuses processes whose node flags differ, and a name it does not have', () => {
    const differing = parseProcfile('web: node --import tsx a.ts\nrouter: node --min-semi-space-size=16 --import tsx b.ts');
    expect(() => procfileNodeFlags(differing)).toThrow('differ in their node flags');
    expect(() => procfileNodeFlags(parseProcfile('web: tsx a.ts'))).toThrow('does not run node');
    expect(() => procfileNodeArgs('nobody', differing)).toThrow('no process named nobody');
    expect(procfileNodeArgs('router', differing)).toEqual(['--min-semi-space-size=16', '--import', 'tsx', 'b.ts']);
  });
});
