import type { ApiClient } from '../../helpers/api.ts';
import { SERVICE_KEY } from '../../helpers/testEnv.ts';

export type EventSpec = { id: string; tenantId: string; type: string; assigneeUserIds: string[]; data?: Record<string, unknown>; severity?: string };

/** Publishes through the batch endpoint, `concurrency` requests at a time; throws unless every event is accepted. */
export async function publishAll(api: ApiClient, events: EventSpec[], batchSize = 100, concurrency = 4): Promise<void> {
  const batches: EventSpec[][] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));
  let next = 0;
  async function lane(): Promise<void> {
    while (next < batches.length) {
      const batch = batches[next++]!;
      const res = await api.post('/api/v1/events/batch', { events: batch });
      const refused = res.status === 200 ? res.body.results.filter((r: { status: string }) => r.status !== 'accepted') : [];
      if (res.status !== 200 || refused.length > 0) throw new Error(`batch publish: ${res.status} ${JSON.stringify(refused.length ? refused.slice(0, 3) : res.body)}`);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
}

export type TimedAnswer = { id: string; status: number | 'hang' | 'error'; ms: number };

/**
 * One POST /api/v1/events with a client-side deadline: an answer later than `deadlineMs` is a
 * hang, whatever it would have been.
 */
export async function publishTimed(baseUrl: string, event: EventSpec, deadlineMs: number): Promise<TimedAnswer> {
  const started = performance.now();
  try {
    const res = await fetch(`${baseUrl}/api/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(deadlineMs),
    });
    await res.arrayBuffer();
    return { id: event.id, status: res.status, ms: performance.now() - started };
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
    return { id: event.id, status: timedOut ? 'hang' : 'error', ms: performance.now() - started };
  }
}

/** Counts answers by status: `{ "202": 480, "503": 20 }`. */
export function tally(answers: TimedAnswer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const a of answers) counts[String(a.status)] = (counts[String(a.status)] ?? 0) + 1;
  return counts;
}
