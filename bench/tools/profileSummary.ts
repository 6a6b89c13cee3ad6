/**
 * `npx tsx bench/tools/profileSummary.ts <dir or .cpuprofile>…`: what each profiled child spent
 * its CPU on — total busy time, then the top packages or files and functions by self time, and
 * by caller: each sample charged to the nearest npm package or project file on its stack, so
 * the socket writes, parsing and timers Node does for postgres.js, ioredis or got count as
 * theirs (self time puts them all under Node). Profiles come from
 * `BENCH_CPU_PROF=<dir> npm run bench`, one folder per child.
 *
 * FROM_S / TO_S keep only the samples of that window (seconds from the profile's start), so
 * startup and shutdown stay out; CALLERS_OF=<function> adds the call chains that led to that
 * function (which library's socket writes `writeBuffer` was, say).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const TOP = Number(process.env.TOP ?? 15);
/** FROM_S / TO_S: only the samples in that window, in seconds from the profile's start (leaves startup and shutdown out). */
const FROM_US = Number(process.env.FROM_S ?? 0) * 1e6;
const TO_US = Number(process.env.TO_S ?? Infinity) * 1e6;
const CALLERS_OF = process.env.CALLERS_OF;
const CHAIN_DEPTH = 4;

function files(paths: string[]): string[] {
  return paths.flatMap((p) => (statSync(p).isDirectory() ? files(readdirSync(p).map((f) => join(p, f))) : p.endsWith('.cpuprofile') ? [p] : []));
}

const shortUrl = (url: string) =>
  url.includes('/node_modules/') ? url.replace(/.*\/node_modules\//, 'npm:') : url.replace(/^file:\/\//, '').replace(/.*\/(src|workers|bench)\//, '$1/') || '(native)';

/** The npm package or project file a frame's code belongs to; null for Node's own and native code. */
function ownerOf(url: string): string | null {
  const npm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (npm) return `npm:${npm[1]}`;
  const own = /\/((?:src|workers|bench)\/.*)$/.exec(url);
  return own ? own[1]! : null;
}

/** ownerOf for charging time to a caller: the bench's wire counter wraps every socket write, and the write is its caller's. */
function callingOwnerOf(url: string): string | null {
  const owner = ownerOf(url);
  return owner === 'bench/pgWireCounter.ts' ? null : owner;
}

for (const file of files(process.argv.slice(2))) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let at = 0;
  let firstUs = Infinity;
  let lastUs = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < FROM_US || at > TO_US) return;
    firstUs = Math.min(firstUs, at);
    lastUs = at;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  if (selfUs.size === 0) {
    console.log(`\n== ${basename(join(file, '..'))}/${basename(file)}: no samples in the window`);
    continue;
  }
  const wallMs = (lastUs - firstUs) / 1000;
  let idleMs = 0;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byCaller = new Map<string, number>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of (node as Node & { children?: number[] }).children ?? []) parentOf.set(child, node.id);
  const callerOf = (id: number): string => {
    if (byId.get(id)!.callFrame.functionName === '(garbage collector)') return '(garbage collector)';
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const owner = callingOwnerOf(byId.get(at)!.callFrame.url);
      if (owner) return owner;
    }
    return '(Node, no package on the stack)';
  };
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      if (functionName === '(idle)') idleMs += us / 1000;
      if (functionName === '(idle)') continue;
    }
    const fn = `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us / 1000);
    const f = ownerOf(url) ?? (url.startsWith('node:') ? 'node' : '(native)');
    byFile.set(f, (byFile.get(f) ?? 0) + us / 1000);
    const caller = callerOf(id);
    byCaller.set(caller, (byCaller.get(caller) ?? 0) + us / 1000);
  }
  const busy = wallMs - idleMs;
  console.log(`\n== ${basename(join(file, '..'))}/${basename(file)}: ${wallMs.toFixed(0)} ms wall, ${busy.toFixed(0)} ms busy (${((busy / wallMs) * 100).toFixed(0)}%)`);
  const top = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP).map(([k, v]) => `  ${v.toFixed(0).padStart(7)} ms ${((v / busy) * 100).toFixed(1).padStart(5)}%  ${k}`).join('\n');
  console.log(' by package/file:\n' + top(byFile));
  console.log(' by function:\n' + top(byFunction));
  console.log(' by caller (Node and native time charged to the nearest package or file on the stack):\n' + top(byCaller));
  if (CALLERS_OF) {
    const chains = new Map<string, number>();
    for (const [id, us] of selfUs) {
      if (byId.get(id)!.callFrame.functionName !== CALLERS_OF) continue;
      const chain: string[] = [];
      // Only frames of a package or a project file: Node's own (streams, net) are the same for every caller.
      for (let at = parentOf.get(id); at !== undefined && chain.length < CHAIN_DEPTH; at = parentOf.get(at)) {
        const { functionName, url, lineNumber } = byId.get(at)!.callFrame;
        if (callingOwnerOf(url)) chain.push(`${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`);
      }
      const key = chain.join(' < ');
      chains.set(key, (chains.get(key) ?? 0) + us / 1000);
    }
    console.log(` what called ${CALLERS_OF}:\n` + top(chains));
  }
}
