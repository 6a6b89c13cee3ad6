import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import got, { RequestError, type Response } from 'got';
import { DeliveryFailure, PermanentDeliveryError, TransientDeliveryError } from '../errors.ts';
import { isForbiddenAddress } from './addressPolicy.ts';
import { classifyHttpOutcome } from './httpOutcome.ts';
import { checkOutboundUrl, isAllowListed, type AllowHosts, type UrlKind } from './urlPolicy.ts';

export type OutboundClientOptions = {
  allowHosts: AllowHosts;
  /** Whole-request budget (connect, send, response headers and body). Default 10 s. */
  timeoutMs?: number;
  /** Response bytes kept; the rest is not read. Default 64 KiB. */
  maxResponseBytes?: number;
  /** Open sockets per destination host; bounds what one busy receiver can take. Default 20. */
  maxSocketsPerHost?: number;
  /** DNS resolver with `dns.lookup`'s signature; tests pass one to simulate a rebinding answer. */
  lookup?: LookupFunction;
};

type Payload = { json: unknown; body?: never } | { body: string | Buffer; json?: never };

export type OutboundRequest = Payload & {
  kind: UrlKind;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
};

export type OutboundResponse = {
  statusCode: number;
  durationMs: number;
  /** The response body as text, cut at maxResponseBytes. */
  body: string;
  truncated: boolean;
};

export type OutboundClient = {
  /** Sends one POST; resolves on 2xx, otherwise throws a DeliveryFailure. */
  post(url: string, request: OutboundRequest): Promise<OutboundResponse>;
  /** Closes pooled connections. */
  close(): void;
};

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
const DEFAULT_MAX_SOCKETS_PER_HOST = 20;
const FORBIDDEN_ADDRESS = 'ERR_OUTBOUND_FORBIDDEN_ADDRESS';
// Receivers only echo error text here; more than this in a log line is noise.
const DETAIL_CHARS = 200;

/**
 * Scheme and host only. Slack and Teams URLs carry their credential in the path and query, so
 * log lines and error messages use this instead of the URL.
 */
export function describeUrlForLogs(url: string | URL): string {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return `${parsed.protocol}//${parsed.host}/…`;
  } catch {
    return '(invalid URL)';
  }
}

class ForbiddenAddressError extends Error {
  readonly code = FORBIDDEN_ADDRESS;
}

const systemLookup: LookupFunction = (hostname, options, callback) => dns.lookup(hostname, options, callback);

/**
 * Wraps a resolver so a name that resolves to a forbidden address fails the connection before
 * the socket opens. Checking here, on the address actually dialled, is what defeats DNS
 * rebinding: a check on an earlier resolution could be answered differently the second time.
 */
function refuseForbiddenAddresses(lookup: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family);
      const candidates = typeof address === 'string' ? [address] : address.map((entry) => entry.address);
      // Any bad answer refuses the whole name: happy-eyeballs would otherwise try it next.
      for (const candidate of candidates) {
        const reason = isForbiddenAddress(candidate);
        if (reason) return callback(new ForbiddenAddressError(`${hostname} resolves to a ${reason}`), '', family);
      }
      callback(null, address, family);
    });
  };
}

function waitForResponse(stream: NodeJS.ReadableStream): Promise<Response> {
  return new Promise((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
}

/** Reads at most `limit` bytes, then stops reading so an endless body cannot fill memory. */
async function readLimited(stream: AsyncIterable<Buffer>, limit: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

function toDeliveryFailure(err: unknown, url: URL, timeoutMs: number): DeliveryFailure {
  if (err instanceof DeliveryFailure) return err;
  const destination = describeUrlForLogs(url);
  if (err instanceof RequestError) {
    if (err.code === FORBIDDEN_ADDRESS) return new PermanentDeliveryError(`refused ${destination}: ${err.message}`);
    if (err.name === 'TimeoutError') return new TransientDeliveryError(`${destination} timed out after ${timeoutMs} ms`);
    // The library error keeps its options (with the full URL) on it, so only a scrubbed message is kept.
    return new TransientDeliveryError(`${destination} request failed (${err.code}): ${withoutSecrets(err.message, url)}`);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TransientDeliveryError(`${destination} request failed: ${withoutSecrets(message, url)}`);
}

function withoutSecrets(message: string, url: URL): string {
  const secretParts = [url.href, `${url.pathname}${url.search}`].filter((part) => part.length > 1);
  return secretParts.reduce((text, part) => text.replaceAll(part, '/…'), message);
}

/**
 * The one HTTP client for every outbound channel (webhooks, Slack, Teams, Web Push). It re-checks
 * the URL, refuses forbidden addresses at connect time, never follows redirects, bounds time and
 * response size, and turns every outcome into a 2xx result or a DeliveryFailure.
 */
export function createOutboundClient(options: OutboundClientOptions): OutboundClient {
  const allowHosts = options.allowHosts;
  const defaultTimeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const maxSockets = options.maxSocketsPerHost ?? DEFAULT_MAX_SOCKETS_PER_HOST;
  const plainLookup = options.lookup ?? systemLookup;
  const guardedLookup = refuseForbiddenAddresses(plainLookup);
  // The resolver is passed per request, never set on the agents: agent options override request
  // options, and only the request knows whether its host is allow-listed.
  // Every socket a host was given stays open while idle (until the server's keep-alive hint
  // or its close): a worker's sends come in waves, each after a grouped load, and keeping only
  // 10 of 20 closed and reopened a connection every dozen posts.
  const agentOptions = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
  const agent = { http: new http.Agent(agentOptions), https: new https.Agent(agentOptions) };

  const request = got.extend({
    agent,
    followRedirect: false,
    throwHttpErrors: false,
    retry: { limit: 0 }, // the queue owns retries and backoff
    headers: { 'user-agent': 'Herald' },
  });

  return {
    async post(rawUrl, outbound) {
      const verdict = checkOutboundUrl(rawUrl, outbound.kind, allowHosts);
      if (!verdict.ok) throw new PermanentDeliveryError(`refused ${describeUrlForLogs(rawUrl)}: URL ${verdict.reason}`);
      const url = verdict.url;
      const timeoutMs = outbound.timeoutMs ?? defaultTimeoutMs;
      const isJson = outbound.json !== undefined;
      const headers = { ...(isJson ? { 'content-type': 'application/json' } : {}), ...outbound.headers };
      const started = performance.now();
      const stream = request.stream.post(url, {
        body: isJson ? JSON.stringify(outbound.json) : outbound.body,
        headers,
        timeout: { request: timeoutMs },
        dnsLookup: isAllowListed(url, allowHosts) ? plainLookup : guardedLookup,
        signal: outbound.signal,
      });
      // Errors after the outcome is settled (the socket torn down mid-body) have nowhere to go.
      stream.on('error', () => {});
      try {
        const response = await waitForResponse(stream);
        const { text, truncated } = await readLimited(stream, maxResponseBytes);
        const failure = classifyHttpOutcome(response.statusCode, response.headers, {
          destination: describeUrlForLogs(url),
          detail: text.slice(0, DETAIL_CHARS).replace(/\s+/g, ' '),
        });
        if (failure) throw failure;
        return { statusCode: response.statusCode, durationMs: Math.round(performance.now() - started), body: text, truncated };
      } catch (err) {
        throw toDeliveryFailure(err, url, timeoutMs);
      } finally {
        stream.destroy();
      }
    },
    close() {
      agent.http.destroy();
      agent.https.destroy();
    },
  };
}
