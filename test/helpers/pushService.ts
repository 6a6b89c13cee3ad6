import { createECDH, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

export type Subscription = { endpoint: string; keys: { p256dh: string; auth: string } };

/**
 * web-push-testing's push service in this process on an ephemeral port: it checks the VAPID
 * signature against the key a subscription was made with, decrypts each message with the
 * subscription's private key (RFC 8291) and keeps the plaintext for us to read back.
 */
export async function startMockPushService() {
  const require = createRequire(import.meta.url);
  const MockServer = require('web-push-testing/src/server.js');
  const { PushApiModel } = require('web-push-testing/src/PushApiModel.js');
  const model = new PushApiModel();
  const mock = new MockServer(model, 0);
  mock.setRequestHandlers();
  const server: Server = mock._app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  model.notifyUrl = `${origin}/notify/`;

  const call = async (path: string, body: unknown = {}) => {
    const res = await fetch(origin + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status >= 300) throw new Error(`mock push service ${path}: ${res.status} ${await res.text()}`);
    return res.headers.get('content-type')?.includes('json') ? ((await res.json()) as any) : null;
  };
  return {
    /** A browser subscribing with our VAPID public key as its applicationServerKey. */
    async subscribe(applicationServerKey: string): Promise<{ subscription: Subscription; clientHash: string }> {
      const { data } = await call('/subscribe', { applicationServerKey });
      return { subscription: { endpoint: data.endpoint, keys: data.keys }, clientHash: data.clientHash };
    },
    /** Decrypted payloads received for a subscription. */
    messages: async (clientHash: string): Promise<string[]> => (await call('/get-notifications', { clientHash })).data.messages,
    expire: (clientHash: string) => call(`/expire-subscription/${clientHash}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Keys a browser would generate, for endpoints served by a plain local receiver. */
export function browserKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

