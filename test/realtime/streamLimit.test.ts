import { get, type ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAMS_PER_USER } from '../../src/realtime/streamLimit.ts';
import { apiClient, eventually, seedDirectory } from '../helpers/api.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/**
 * SPEC §7.1: a user has at most 16 open live streams, across every API instance; a 17th closes
 * the oldest, which gets a retry hint. Without a limit one user can hold thousands of
 * connections (and their subscriptions) on the API instances every tenant shares.
 */

type RawStream = { body: () => string; ended: () => boolean; req: ClientRequest };

let env: TestEnv;
let urls: string[];
const opened: RawStream[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  const a = await env.startWeb();
  const b = await env.startWeb();
  urls = [a.url, b.url];
  await seedDirectory(apiClient(a.url), 'acme', ['lim']);
});
afterAll(async () => {
  for (const s of opened) s.req.destroy();
  await env?.cleanup();
});

function openRaw(baseUrl: string, token: string): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    let body = '';
    let ended = false;
    const req = get(`${baseUrl}/api/v1/events`, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream answered ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (ended = true));
      const stream = { body: () => body, ended: () => ended, req };
      opened.push(stream);
      // Open once its first count frame is in: the hub has registered it by then.
      void eventually(async () => body.includes('event: unread_count')).then(() => resolve(stream), reject);
    });
    req.on('error', (err) => (ended ? undefined : reject(err)));
  });
}

describe('streams per user', () => {
  it('closes the oldest with a retry hint when a 17th opens, whichever instance holds it', async () => {
    const token = await env.userToken('lim', ['acme']);
    const streams: RawStream[] = [];
    for (let i = 0; i < STREAMS_PER_USER; i++) streams.push(await openRaw(urls[i % 2]!, token));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(streams.filter((s) => s.ended())).toEqual([]);

    const seventeenth = await openRaw(urls[1]!, token);
    await eventually(async () => streams[0]!.ended());
    expect(streams[0]!.body().trimEnd().endsWith('retry: 60000')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(streams.slice(1).filter((s) => s.ended())).toEqual([]);
    expect(seventeenth.ended()).toBe(false);
  });

  it('counts a stream that closed as gone', async () => {
    const token = await env.userToken('lim', ['acme']);
    const key = `${env.config.REDIS_PREFIX}:streams:lim`;
    const before = await env.redis.zcard(key);
    const extra = await openRaw(urls[0]!, token);
    await eventually(async () => (await env.redis.zcard(key)) <= STREAMS_PER_USER);
    extra.req.destroy();
    await eventually(async () => (await env.redis.zcard(key)) === Math.min(before, STREAMS_PER_USER) - 1);
  });
});
