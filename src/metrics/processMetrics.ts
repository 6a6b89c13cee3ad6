import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The metrics of this process. Like the root logger, they are process-wide by nature: every
 * worker role and the API in one process add to the same registry, which the API serves at
 * /metrics and a worker process serves on METRICS_PORT. Collectors that need live objects
 * (queues, the SSE hub) are added by whoever owns those objects, with `addCollector`.
 */
export const registry = new Registry();
// The event-loop lag histogram samples with a timer, which wakes the process at this interval
// whether or not it has work: prom-client's 10 ms woke each of the eight processes of a
// deployment 100 times a second, idle or not (seen with strace). A 50 ms timer still catches
// every stall long enough to matter for a notification.
const EVENT_LOOP_SAMPLE_MS = 50;
collectDefaultMetrics({ register: registry, prefix: 'herald_process_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

export const deliveriesFinished = new Counter({
  name: 'herald_deliveries_total',
  help: 'Deliveries that reached a state, by channel and state (sent, delivered, failed, skipped)',
  labelNames: ['channel', 'state'] as const,
  registers: [registry],
});

export const acceptedToDeliveredSeconds = new Histogram({
  name: 'herald_event_to_delivery_seconds',
  help: 'Time from an event being accepted to one of its deliveries being sent or delivered, by channel',
  labelNames: ['channel'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});

export const httpRequestSeconds = new Histogram({
  name: 'herald_http_request_duration_seconds',
  help: 'HTTP request durations by method, route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const busDeadLettered = new Counter({
  name: 'herald_bus_dead_lettered_total',
  help: 'Bus messages moved to the dead-letter place, by bus',
  labelNames: ['bus'] as const,
  registers: [registry],
});

/** Records a delivery reaching a final or visible state; `acceptedAt` feeds the latency histogram. */
export function observeDelivery(channel: string, state: string, acceptedAt?: Date | null): void {
  deliveriesFinished.inc({ channel, state });
  if (acceptedAt && (state === 'sent' || state === 'delivered')) {
    acceptedToDeliveredSeconds.observe({ channel }, Math.max(0, (Date.now() - acceptedAt.getTime()) / 1000));
  }
}

type Collect = (add: (labels: Record<string, string>, value: number) => void) => Promise<void> | void;
const collectorsByGauge = new Map<string, Set<Collect>>();

/**
 * Adds to a gauge read at scrape time (queue depths, open streams). Several owners may feed
 * one gauge (two API instances in one test process): their values add up. Returns the removal.
 */
export function addCollector(name: string, help: string, labelNames: readonly string[], collect: Collect): () => void {
  let collectors = collectorsByGauge.get(name);
  if (!collectors) {
    const owned = new Set<Collect>();
    collectors = owned;
    collectorsByGauge.set(name, owned);
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        const totals = new Map<string, { labels: Record<string, string>; value: number }>();
        await Promise.all(
          [...owned].map((c) =>
            Promise.resolve(
              c((labels, value) => {
                const key = JSON.stringify(labels);
                const entry = totals.get(key) ?? { labels, value: 0 };
                entry.value += value;
                totals.set(key, entry);
              }),
            ).catch(() => {}),
          ),
        );
        for (const { labels, value } of totals.values()) this.set(labels, value);
      },
    });
  }
  collectors.add(collect);
  return () => collectors.delete(collect);
}

export const sseFramesDropped = new Counter({
  name: 'herald_sse_dropped_frames_total',
  help: 'Live frames dropped because a stream client was not reading',
  registers: [registry],
});
