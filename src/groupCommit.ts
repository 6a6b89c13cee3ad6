export type GroupCommitOptions = {
  /** Most items per flush. */
  maxBatch?: number;
  /**
   * When a flush of several items fails, flush each again on its own and settle it with its own
   * outcome: one item that can never succeed (a poison event) then fails alone instead of
   * failing every neighbour it happened to be grouped with. Needs an idempotent flush.
   */
  isolateFailures?: boolean;
  /**
   * Flushes that may run at once (default 1). More than one suits flushes whose cost grows
   * with their size and that the database can run side by side: a large group then need not
   * wait for a small one that happened to arrive first.
   */
  flushers?: number;
};

/**
 * Group commit: items that arrive while a flush is running wait and go together in the next
 * one, so under load N concurrent callers cost one round trip instead of N, and an idle
 * system adds no delay (the first submit flushes at once).
 */
export function createGroupCommitter<In, Out>(
  flush: (items: In[]) => Promise<Out[]>,
  options: GroupCommitOptions = {},
): (items: In[]) => Promise<Out[]> {
  const maxBatch = options.maxBatch ?? 1000;
  const flushers = options.flushers ?? 1;
  type Waiter = { item: In; resolve: (out: Out) => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let running = 0;

  async function settle(batch: Waiter[]): Promise<void> {
    try {
      const results = await flush(batch.map((w) => w.item));
      batch.forEach((w, i) => w.resolve(results[i] as Out));
    } catch (err) {
      if (options.isolateFailures && batch.length > 1) await Promise.all(batch.map((w) => settle([w])));
      else for (const w of batch) w.reject(err);
    }
  }

  async function drain(): Promise<void> {
    running++;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      await settle(batch);
    }
    running--;
  }

  return (items: In[]) => {
    const settled = items.map(
      (item) => new Promise<Out>((resolve, reject) => queue.push({ item, resolve, reject })),
    );
    if (running < flushers) void drain();
    return Promise.all(settled);
  };
}
