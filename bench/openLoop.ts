import { percentile, sleep, waitUntil } from './harness.ts';

export type OpenLoopRun = {
  rate: number;
  /** Send → arrival per event, in ms; Infinity for an event whose arrival never came. */
  latencies: number[];
  accepted: number;
  failedPosts: number;
};

/**
 * Publishes `rate` events a second for `seconds` without waiting for answers (open loop: a slow
 * server does not slow the sender, so queueing shows as latency), then waits up to `drainMs` for
 * every accepted event's arrival. `send(i, sentAt)` publishes event i and says whether it was
 * accepted; the caller records arrivals by calling the returned `arrived(i, at)`.
 */
export function openLoop(rate: number, seconds: number, drainMs: number) {
  const total = Math.round(rate * seconds);
  const sentAt = new Float64Array(total);
  const arrivedAt = new Float64Array(total);
  let arrivals = 0;
  return {
    arrived(i: number, at: number): void {
      if (i >= 0 && i < total && arrivedAt[i] === 0) {
        arrivedAt[i] = at;
        arrivals++;
      }
    },
    async run(send: (i: number, sentAt: number) => Promise<boolean>): Promise<OpenLoopRun> {
      let accepted = 0;
      let failedPosts = 0;
      const answers: Promise<void>[] = [];
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        sentAt[i] = performance.now();
        answers.push(send(i, sentAt[i]!).then((ok) => void (ok ? accepted++ : failedPosts++), () => void failedPosts++));
      }
      await Promise.all(answers);
      await waitUntil('arrivals', () => arrivals >= accepted, drainMs, 50).catch(() => {});
      const latencies = Array.from(sentAt, (at, i) => (arrivedAt[i]! > 0 ? arrivedAt[i]! - at : Number.POSITIVE_INFINITY));
      return { rate, latencies, accepted, failedPosts };
    },
  };
}

/** `p50 … ms, p99 … ms, n/total arrived` of a run, for a figure's note. */
export function describeOpenLoop(run: OpenLoopRun): string {
  const arrived = run.latencies.filter(Number.isFinite).length;
  return `p50 ${percentile(run.latencies, 50).toFixed(1)} ms, p99 ${percentile(run.latencies, 99).toFixed(1)} ms, ${arrived}/${run.latencies.length} arrived${run.failedPosts ? `, ${run.failedPosts} POSTs failed` : ''}`;
}

/**
 * The event a latency run publishes to one user: its run tag and sequence number travel in
 * `data`, so the stream handler can tell which send a notification frame answers.
 */
export function timedEvent(run: string, seq: number, userId: string, tenantId: string, sentAt: number) {
  return { id: `${run}_${seq}`, type: 'finding_created', tenantId, severity: 'high', assigneeUserIds: [userId], data: { title: 'Live one', run, seq, sentAt } };
}
