export type GroupCommitOptions = {
  /** Most items per flush. */
  maxBatch?: number;
  /**
   * When a flush of several items fails, flush each again on its own and settle it with its own
   * outcome: one item that can never succeed (a poison event) then fails alone instead of
   * failing every neighbour it happened to be grouped with. Needs an idempotent flush.
   */
  isolateFailures?: boolean;
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
  type Waiter = { item: In; resolve: (out: Out) => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let running = false;

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
    running = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      await settle(batch);
    }
    running = false;
  }

  return (items: In[]) => {
    const settled = items.map(
      (item) => new Promise<Out>((resolve, reject) => queue.push({ item, resolve, reject })),
    );
    if (!running) void drain();
    return Promise.all(settled);
  };
}
