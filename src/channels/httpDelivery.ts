import { BrokenCircuitError } from 'cockatiel';
import type { Db } from '../db/client.ts';
import { performDelivery, type DeliveryContext, type DeliveryStore, type SendOutcome } from '../deliveries/deliveryLifecycle.ts';
import { DeliveryDeferredError, TransientDeliveryError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { BreakerRegistry } from '../outbound/breakers.ts';
import { describeUrlForLogs, type OutboundClient, type OutboundResponse } from '../outbound/httpClient.ts';
import type { UrlKind } from '../outbound/urlPolicy.ts';

/** What every HTTP channel (webhook, Slack, Teams) needs to send. */
export type HttpDeliveryDeps = { db: Db; deliveries: DeliveryStore; client: OutboundClient; breakers: BreakerRegistry };

/** The job a send runs in: its abort signal (the queue's timeout), its logger, and its creation time and try budget. */
export type DeliveryJobContext = {
  signal?: AbortSignal;
  logger: Logger;
  job: { timestamp: number; opts: { attempts?: number } };
};

/** One POST, built fresh for each attempt from the rows as they are now. */
export type HttpDeliveryRequest = { url: string; kind: UrlKind; body: string; headers: Record<string, string> };

/**
 * Sends one stored delivery over HTTP with its bookkeeping (see performDelivery). `prepare` turns
 * the delivery into a request — the URL is read at send time, so an edited or removed URL takes
 * effect on the next try. While the destination's circuit is open the job is deferred without
 * spending a try; only transient failures (timeouts, 5xx, dropped connections) count towards
 * opening it, since a 4xx or a 429 comes from a host that is up.
 */
export async function deliverOverHttp(
  deps: HttpDeliveryDeps,
  deliveryId: string,
  context: DeliveryJobContext,
  prepare: (delivery: DeliveryContext) => Promise<HttpDeliveryRequest>,
): Promise<SendOutcome | null> {
  const run = { startedAt: new Date(context.job.timestamp), maxAttempts: context.job.opts.attempts ?? 1 };
  return performDelivery(
    deps.deliveries,
    deliveryId,
    async (delivery) => {
      const request = await prepare(delivery);
      // The breaker is the URL's own (see BreakerRegistry); the URL never leaves this process.
      const key = request.url;
      const destination = describeUrlForLogs(request.url);
      const openUntil = deps.breakers.openUntil(key);
      if (openUntil !== null) throw new DeliveryDeferredError(destination, openUntil);

      let response: OutboundResponse;
      try {
        response = await postCountingTransient(deps, key, request, context.signal);
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw new DeliveryDeferredError(destination, deps.breakers.openUntil(key) ?? Date.now() + 1_000);
        throw err;
      }
      context.logger.debug({ destination, statusCode: response.statusCode, durationMs: response.durationMs }, 'delivered');
      return { state: 'delivered', statusCode: response.statusCode };
    },
    run,
  );
}

async function postCountingTransient(
  deps: HttpDeliveryDeps,
  key: string,
  request: HttpDeliveryRequest,
  signal: AbortSignal | undefined,
): Promise<OutboundResponse> {
  const outcome = await deps.breakers.forDestination(key).execute(async () => {
    try {
      return { response: await deps.client.post(request.url, { kind: request.kind, body: request.body, headers: request.headers, signal }) };
    } catch (err) {
      // Returned, not thrown: the breaker counts every throw as a failure of the host.
      if (err instanceof TransientDeliveryError) throw err;
      return { failure: err };
    }
  });
  if ('failure' in outcome) throw outcome.failure;
  return outcome.response;
}
