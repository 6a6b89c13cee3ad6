import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, seedDirectory } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;
let url: string;

beforeAll(async () => {
  env = await createTestEnv();
  // A heartbeat every 10 ms: one is all but certain to fall while a stream is still opening.
  url = (await env.startWeb({ SSE_HEARTBEAT_SECONDS: 0.01 })).url;
  await seedDirectory(apiClient(url), 'acme', ['u1']);
});
afterAll(() => env?.cleanup());

describe('stream heartbeats', () => {
  it('never go out before a stream is open: every stream starts with its event-stream headers and its first frames', async () => {
    const token = await env.userToken('u1', ['acme']);
    const streams = await Promise.all(
      Array.from({ length: 30 }, async () => {
        const controller = new AbortController();
        const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
        const reader = res.body!.getReader();
        let text = '';
        const decoder = new TextDecoder();
        while (!text.includes('event: unread_count')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
        controller.abort();
        return { status: res.status, type: res.headers.get('content-type'), start: text.slice(0, 40) };
      }),
    );
    for (const stream of streams) {
      expect(stream.status).toBe(200);
      expect(stream.type).toContain('text/event-stream');
      expect(stream.start).toMatch(/^retry: 3000\n\n/);
    }
  });
});
