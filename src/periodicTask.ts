/**
 * A background task of one process (the outbox sweeper, the retention sweep): run every
 * `intervalMs`, never two runs at once, a failed run logged by `onError` and tried again at the
 * next tick. The timer does not keep the process alive; `stop()` waits for the run under way.
 */
export function periodicTask(run: () => Promise<unknown>, options: { intervalMs: number; runAtStart?: boolean; onError: (err: unknown) => void }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  const tick = () => {
    if (running) return;
    running = run()
      .catch(options.onError)
      .finally(() => (running = null));
  };
  return {
    start(): void {
      timer = setInterval(tick, options.intervalMs);
      timer.unref();
      if (options.runAtStart) tick();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      await running;
    },
  };
}
