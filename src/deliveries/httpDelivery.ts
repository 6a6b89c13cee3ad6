import type { Db } from '../db/client.ts';
import { sendThroughBreaker, type BreakerRegistry } from '../outbound/breakers.ts';
import { describeUrlForLogs, type OutboundClient } from '../outbound/httpClient.ts';
import type { UrlKind } from '../outbound/urlPolicy.ts';
import type { QueueJob } from '../queues/queueJob.ts';
import { performDelivery, type DeliveryContext, type DeliveryStore, type SendOutcome } from './deliveryLifecycle.ts';

/** What every channel that posts over HTTP (webhook, Slack, Teams) needs to send. */
export type HttpDeliveryDeps = { db: Db; deliveries: DeliveryStore; client: OutboundClient; breakers: BreakerRegistry };

/** One POST, built fresh for each attempt from the rows as they are now. */
export type HttpDeliveryRequest = { url: string; kind: UrlKind; body: string; headers: Record<string, string> };

/**
 * Sends one stored delivery as one POST, with its bookkeeping (see performDelivery), through the
 * URL's own breaker (see sendThroughBreaker). `prepare` turns the delivery into the request: the
 * URL is read at send time, so an edited or removed URL takes effect on the next try.
 */
export async function deliverOverHttp(
  job: QueueJob<'webhook' | 'chat'>,
  deps: HttpDeliveryDeps,
  prepare: (delivery: DeliveryContext) => Promise<HttpDeliveryRequest>,
): Promise<SendOutcome | null> {
  return performDelivery(deps.deliveries, job, async (delivery) => {
    const request = await prepare(delivery);
    const destination = describeUrlForLogs(request.url);
    // The breaker is the URL's own (see BreakerRegistry); the URL never leaves this process.
    const response = await sendThroughBreaker(deps.breakers, { key: request.url, label: destination }, () =>
      deps.client.post(request.url, { kind: request.kind, body: request.body, headers: request.headers, signal: job.signal }),
    );
    job.logger.debug({ destination, statusCode: response.statusCode, durationMs: response.durationMs }, 'delivered');
    return { state: 'delivered', statusCode: response.statusCode };
  });
}
