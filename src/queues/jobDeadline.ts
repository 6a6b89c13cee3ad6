/**
 * A job's deadline: at `timeoutMs` its signal aborts what was handed it, and `race` rejects
 * whether or not the work heeds the signal — so a job never outlives its timeout. The signal is
 * made only when read: Node builds an AbortSignal lazily, and a listener on it cost more than
 * the timer.
 */
export function startDeadline(timeoutMs: number): { readonly signal: AbortSignal; race<T>(work: Promise<T>): Promise<T>; clear(): void } {
  const controller = new AbortController();
  let timeOut!: (err: Error) => void;
  const timedOut = new Promise<never>((_, reject) => (timeOut = reject));
  const timer = setTimeout(() => {
    const err = new Error(`timed out after ${timeoutMs} ms`);
    controller.abort(err);
    timeOut(err);
  }, timeoutMs);
  return {
    get signal() {
      return controller.signal;
    },
    race: (work) => Promise.race([work, timedOut]),
    clear: () => clearTimeout(timer),
  };
}
