import type { LookupAddress } from 'node:dns';
import type { ServerResponse } from 'node:http';
import type { LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentDeliveryError, RetryLaterError, TransientDeliveryError } from '../../src/errors.ts';
import { createOutboundClient, describeUrlForLogs, type OutboundClient } from '../../src/outbound/httpClient.ts';
import { HOSTILE_URLS } from './hostileUrls.ts';
import { startLocalServer, type LocalServer } from './localServer.ts';

/** A resolver that answers every name with fixed addresses and remembers what it was asked. */
function fixedLookup(addresses: string[]): LookupFunction & { asked: string[] } {
  const asked: string[] = [];
  const lookup: LookupFunction = (hostname, options, callback) => {
    asked.push(hostname);
    const all: LookupAddress[] = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, all);
    else callback(null, all[0]?.address ?? '', all[0]?.family);
  };
  return Object.assign(lookup, { asked });
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

const MAX_RESPONSE_BYTES = 64 * 1024;

let receiver: LocalServer;
let redirectTarget: LocalServer;
let hanging: LocalServer;
let endless: LocalServer;
let client: OutboundClient;
let endlessBytesSent = 0;

beforeAll(async () => {
  redirectTarget = await startLocalServer((_req, res) => res.end('should never be reached'));
  receiver = await startLocalServer((req, res) => {
    const status = Number(new URL(req.url, 'http://x').searchParams.get('status') ?? 200);
    if (status === 302) res.setHeader('location', `${redirectTarget.origin}/target`);
    if (status === 429) res.setHeader('retry-after', '2');
    res.statusCode = status;
    res.end(status === 404 ? 'no_service' : JSON.stringify({ received: req.body }));
  });
  hanging = await startLocalServer(() => {});
  endless = await startLocalServer((_req, res) => {
    const chunk = Buffer.alloc(256 * 1024, 'a');
    const writeMore = () => {
      while (!res.destroyed) {
        endlessBytesSent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', writeMore);
      }
    };
    writeMore();
  });
  client = createOutboundClient({
    allowHosts: [receiver, redirectTarget, hanging, endless].map((server) => `127.0.0.1:${server.port}`),
    maxResponseBytes: MAX_RESPONSE_BYTES,
    timeoutMs: 2000,
    lookup: fixedLookup(['127.0.0.1']),
  });
});

afterAll(async () => {
  client.close();
  await Promise.all([receiver, redirectTarget, hanging, endless].map((server) => server.close()));
});

describe('post: refused URLs (send time)', () => {
  it.each(HOSTILE_URLS)('refuses $kind $url ($why) without any I/O', async ({ url, kind }) => {
    const lookup = fixedLookup(['127.0.0.1']);
    const guarded = createOutboundClient({ allowHosts: [], lookup });
    const before = receiver.connections();
    const failure = await failureOf(guarded.post(url, { kind, json: { hello: 'world' } }));
    guarded.close();
    expect(failure).toBeInstanceOf(PermanentDeliveryError);
    expect(lookup.asked).toEqual([]);
    expect(receiver.connections()).toBe(before);
  });

  it('keeps the secret path out of the error message', async () => {
    const failure = await failureOf(
      client.post('https://hooks.slack.com@evil.test/services/T0/B0/SECRET', { kind: 'slack', json: {} }),
    );
    expect(failure.message).toContain('https://evil.test/…');
    expect(failure.message).not.toContain('SECRET');
  });
});

describe('post: connect-time address check', () => {
  it('refuses a name that resolves to loopback (DNS rebinding) before connecting', async () => {
    const lookup = fixedLookup(['127.0.0.1']);
    const guarded = createOutboundClient({ allowHosts: [], lookup });
    const before = receiver.connections();
    const failure = await failureOf(guarded.post('https://rebind.example.test/hook', { kind: 'webhook', json: {} }));
    guarded.close();
    expect(failure).toBeInstanceOf(PermanentDeliveryError);
    expect(failure.message).toBe('refused https://rebind.example.test/…: rebind.example.test resolves to a loopback address');
    expect(lookup.asked).toEqual(['rebind.example.test']); // refused after resolving, not by the URL check
    expect(receiver.connections()).toBe(before);
    expect(receiver.requests.filter((r) => r.url === '/hook')).toEqual([]);
  });

  it('refuses when any one of several answers is forbidden', async () => {
    const lookup = fixedLookup(['93.184.215.14', '::ffff:169.254.169.254']);
    const guarded = createOutboundClient({ allowHosts: [], lookup });
    const failure = await failureOf(guarded.post('https://mixed.example.test/hook', { kind: 'webhook', json: {} }));
    guarded.close();
    expect(failure).toBeInstanceOf(PermanentDeliveryError);
    expect(failure.message).toContain('cloud metadata address');
  });

  it('uses the same resolver for allow-listed hosts, which may reach private addresses', async () => {
    const lookup = fixedLookup(['127.0.0.1']);
    const allowed = createOutboundClient({ allowHosts: [`rebind.example.test:${receiver.port}`], lookup });
    const result = await allowed.post(`http://rebind.example.test:${receiver.port}/allowed`, { kind: 'webhook', json: {} });
    allowed.close();
    expect(result.statusCode).toBe(200);
    expect(lookup.asked).toEqual(['rebind.example.test']);
    expect(receiver.requests.at(-1)?.url).toBe('/allowed');
  });
});

describe('post: outcomes', () => {
  it('returns status, duration and body on 2xx, sending JSON and caller headers', async () => {
    const result = await client.post(`${receiver.origin}/ok`, {
      kind: 'webhook',
      json: { event: 'deploy.finished' },
      headers: { 'webhook-id': 'msg_1' },
    });
    expect(result).toMatchObject({ statusCode: 200, truncated: false });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(result.body)).toEqual({ received: '{"event":"deploy.finished"}' });
    const seen = receiver.requests.at(-1);
    expect(seen?.method).toBe('POST');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.headers['webhook-id']).toBe('msg_1');
  });

  it('sends a raw body unchanged', async () => {
    await client.post(`${receiver.origin}/raw`, { kind: 'webhook', body: '{"exact":"bytes"}', headers: { 'content-type': 'application/json' } });
    expect(receiver.requests.at(-1)?.body).toBe('{"exact":"bytes"}');
  });

  it('treats 500 as transient', async () => {
    const failure = await failureOf(client.post(`${receiver.origin}/x?status=500`, { kind: 'webhook', json: {} }));
    expect(failure).toBeInstanceOf(TransientDeliveryError);
  });

  it('treats 429 with Retry-After: 2 as retry in 2000 ms', async () => {
    const failure = await failureOf(client.post(`${receiver.origin}/x?status=429`, { kind: 'webhook', json: {} }));
    expect(failure).toBeInstanceOf(RetryLaterError);
    expect((failure as RetryLaterError).retryAfterMs).toBe(2000);
  });

  it('treats 404 as permanent and keeps the path out of the message', async () => {
    const failure = await failureOf(client.post(`${receiver.origin}/secret-token?status=404`, { kind: 'webhook', json: {} }));
    expect(failure).toBeInstanceOf(PermanentDeliveryError);
    expect(failure.message).toBe(`http://127.0.0.1:${receiver.port}/… answered HTTP 404: no_service`);
  });

  it('does not follow a 302 and fails it permanently', async () => {
    const failure = await failureOf(client.post(`${receiver.origin}/x?status=302`, { kind: 'webhook', json: {} }));
    expect(failure).toBeInstanceOf(PermanentDeliveryError);
    expect(redirectTarget.connections()).toBe(0);
    expect(redirectTarget.requests).toEqual([]);
  });

  it('gives up on a receiver that never answers within the timeout, as transient', async () => {
    const started = Date.now();
    const failure = await failureOf(client.post(`${hanging.origin}/slow`, { kind: 'webhook', json: {}, timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(failure).toBeInstanceOf(TransientDeliveryError);
    expect(failure.message).toBe(`http://127.0.0.1:${hanging.port}/… timed out after 300 ms`);
  });

  it('treats a refused connection as transient', async () => {
    const closed = await startLocalServer(() => {});
    const url = `${closed.origin}/gone`;
    await closed.close();
    const oneOff = createOutboundClient({ allowHosts: [`127.0.0.1:${closed.port}`] });
    const failure = await failureOf(oneOff.post(url, { kind: 'webhook', json: {} }));
    oneOff.close();
    expect(failure).toBeInstanceOf(TransientDeliveryError);
    expect(failure.message).toContain('ECONNREFUSED');
  });

  it('reads at most maxResponseBytes of an endless body and stops reading', async () => {
    const result = await client.post(`${endless.origin}/firehose`, { kind: 'webhook', json: {} });
    expect(result.statusCode).toBe(200);
    expect(result.truncated).toBe(true);
    expect(result.body.length).toBe(MAX_RESPONSE_BYTES);
    // The receiver is stopped by backpressure once the client hangs up, not by itself.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const sentAfterHangUp = endlessBytesSent;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(endlessBytesSent).toBe(sentAfterHangUp);
    expect(endlessBytesSent).toBeLessThan(64 * 1024 * 1024);
  });

  it('stops when the caller aborts, as transient', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const failure = await failureOf(client.post(`${hanging.origin}/abort`, { kind: 'webhook', json: {}, signal: controller.signal }));
    expect(failure).toBeInstanceOf(TransientDeliveryError);
  });
});

describe('post: connections', () => {
  it('keeps every socket a host was given across waves of sends, opening no new ones', async () => {
    // A worker's sends come in waves (each after a grouped load): between them every socket is
    // idle at once, and none may be closed only to be opened again by the next wave.
    const SOCKETS_PER_HOST = 20; // the client's default
    // Each wave is answered only once all of it has arrived, so every wave holds every socket.
    const held: ServerResponse[] = [];
    const waves = await startLocalServer((_req, res) => {
      held.push(res);
      if (held.length === SOCKETS_PER_HOST) for (const waiting of held.splice(0)) waiting.end();
    });
    const wavesClient = createOutboundClient({ allowHosts: [`127.0.0.1:${waves.port}`] });
    try {
      for (let wave = 0; wave < 3; wave++) {
        await Promise.all(
          Array.from({ length: SOCKETS_PER_HOST }, (_, i) => wavesClient.post(`${waves.origin}/wave`, { kind: 'webhook', json: { wave, i } })),
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(waves.requests).toHaveLength(3 * SOCKETS_PER_HOST);
      expect(waves.connections()).toBe(SOCKETS_PER_HOST);
    } finally {
      wavesClient.close();
      await waves.close();
    }
  });
});

describe('describeUrlForLogs', () => {
  it('keeps scheme and host, hides path, query and credentials', () => {
    expect(describeUrlForLogs('https://hooks.slack.com/services/T0/B0/SECRET')).toBe('https://hooks.slack.com/…');
    expect(describeUrlForLogs(new URL('https://u:p@example.com:8443/a?sig=x'))).toBe('https://example.com:8443/…');
    expect(describeUrlForLogs('not a url')).toBe('(invalid URL)');
  });
});
