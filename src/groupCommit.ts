/**
 * Group commit: items that arrive while a flush is running wait and go together in the next
 * one, so under load N concurrent callers cost one round trip instead of N, and an idle
 * system adds no delay (the first submit flushes at once).
 */
export function createGroupCommitter<In, Out>(
  flush: (items: In[]) => Promise<Out[]>,
  maxBatch = 1000,
): (items: In[]) => Promise<Out[]> {
  type Waiter = { item: In; resolve: (out: Out) => void; reject: (err: unknown) => void };
  let queue: Waiter[] = [];
  let running = false;

  async function drain(): Promise<void> {
    running = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      try {
        const results = await flush(batch.map((w) => w.item));
        batch.forEach((w, i) => w.resolve(results[i] as Out));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
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
