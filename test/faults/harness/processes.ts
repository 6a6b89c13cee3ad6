import { execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** Spawn options and ownership for running a server as `user` when we are root (initdb and postgres refuse root). */
export type RunAs = { spawnOptions: { uid?: number; gid?: number }; chown(path: string): void };

export function runAs(user: string): RunAs {
  if (process.getuid?.() !== 0) return { spawnOptions: {}, chown: () => {} };
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
  return {
    // The same as `runuser -u postgres --`, but the child is the server itself, so its handle can signal it.
    spawnOptions: { uid, gid },
    chown: (path) => execFileSync('chown', ['-R', `${uid}:${gid}`, path]),
  };
}

/** A port nobody listens on right now: bind port 0 and let the kernel choose. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Every server child a scenario started, killed on the way out however the test process ends. */
const children = new Set<ChildProcess>();

export function trackChild(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** Signals a child and waits for it to exit; `fallback` (then SIGKILL) when it takes longer than `timeoutMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number, fallback: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  child.kill(signal);
  if (await within(timeoutMs)) return;
  // Printed, because a server stopped harder than asked (Postgres' immediate shutdown, say) may
  // lose what it had not written out, which changes what a scenario can expect to find after.
  console.warn(`${child.spawnfile} (pid ${child.pid}) did not exit within ${timeoutMs} ms of ${signal}; sending ${fallback}`);
  child.kill(fallback);
  if (await within(5_000)) return;
  console.warn(`${child.spawnfile} (pid ${child.pid}) did not exit on ${fallback}; sending SIGKILL`);
  child.kill('SIGKILL');
  await exited;
}

/** Polls until `check` is true; throws naming `what` when `timeoutMs` passes. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The last few KB of a server's output, for the error when it will not start. */
export const tail = (text: string, max = 8_000) => (text.length > max ? text.slice(-max) : text);
