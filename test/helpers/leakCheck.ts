import { afterAll, beforeAll } from 'vitest';

/**
 * Fails a test file that leaves a socket, a server or a child process open after its own
 * teardown — a worker, a Redis or Postgres connection, an API or receiver someone forgot to
 * close — as graphile-worker's suite fails on a pool left behind. It runs as the file's last
 * afterAll (vitest runs "after" hooks in reverse order, and setup files register first), and
 * waits a moment for closes already under way. Each file runs in its own process, so what was
 * open before the file's first hook is the baseline.
 */
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'ProcessWrap', 'ConnectWrap'];
const SETTLE_MS = 5_000;

const openResources = (): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) if (WATCHED.includes(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
};

function leftOpen(baseline: Map<string, number>): string[] {
  return [...openResources()].flatMap(([name, count]) => (count > (baseline.get(name) ?? 0) ? [`${count - (baseline.get(name) ?? 0)} ${name}`] : []));
}

let baseline = new Map<string, number>();
beforeAll(() => {
  baseline = openResources();
});

afterAll(async () => {
  const deadline = Date.now() + SETTLE_MS;
  let leaks = leftOpen(baseline);
  while (leaks.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    leaks = leftOpen(baseline);
  }
  if (leaks.length > 0) throw new Error(`left open after the file's teardown: ${leaks.join(', ')} (close every worker, connection and server it started)`);
});
