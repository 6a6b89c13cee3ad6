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
  /**
   * How long the first item of a group waits for others before it is flushed (default 0: at
   * once). For work nobody waits on, whose cost is mostly per flush: under a light steady load
   * the items then go a few per flush instead of one each.
   */
  lingerMs?: number;
};

/**
 * Submits items, which go to a flush together (with whatever else is waiting); resolves with
 * their results in order, or rejects with the first failure. `each` submits them the same way
 * and gives each item's result its own promise, so one that fails leaves the others' standing.
 */
export type GroupCommitter<In, Out> = ((items: In[]) => Promise<Out[]>) & { each(items: In[]): Promise<Out>[] };

/**
 * Group commit: items that arrive while a flush is running wait and go together in the next
 * one, so under load N concurrent callers cost one round trip instead of N, and an idle
 * system adds no delay (the first submit flushes at once, unless told to linger).
 */
export function createGroupCommitter<In, Out>(
  flush: (items: In[]) => Promise<Out[]>,
  options: GroupCommitOptions = {},
): GroupCommitter<In, Out> {
  const maxBatch = options.maxBatch ?? 1000;
  const flushers = options.flushers ?? 1;
  const lingerMs = options.lingerMs ?? 0;
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
    if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      await settle(batch);
    }
    running--;
  }

  function each(items: In[]): Promise<Out>[] {
    const settled = items.map((item) => new Promise<Out>((resolve, reject) => queue.push({ item, resolve, reject })));
    if (running < flushers) void drain();
    return settled;
  }
  return Object.assign((items: In[]) => Promise.all(each(items)), { each });
}
