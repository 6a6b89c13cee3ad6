/**
 * Issue #14 item 1: a template bomb may not take an API instance or a worker away from anyone.
 * The API and the rendering workers run as their own processes, as in production, so the test's
 * own event loop stays free to time their answers — and a bomb that went off would hang them,
 * not the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApi, spawnWorker, type WorkerProcess } from '../faults/harness/workerProcess.ts';
import { apiClient, eventually, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { startSmtpReceiver, type SmtpReceiver } from '../helpers/smtpReceiver.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

/** The issue's attack: three nested loops over 80,000 items, 5 × 10^14 iterations unchecked. */
const BOMB = '{{#each data.a}}{{#each @root.data.a}}{{#each @root.data.a}}{{/each}}{{/each}}{{/each}}';
const ZEROS = Array.from({ length: 80_000 }, () => 0);
const HEARTBEAT_MS = 200;

let env: TestEnv;
let smtp: SmtpReceiver;
let api: ApiClient;
let url: string;
let web: ReturnType<typeof spawnApi>;
const processes: WorkerProcess[] = [];

beforeAll(async () => {
  smtp = await startSmtpReceiver();
  env = await createTestEnv({ SMTP_URL: smtp.url });
  web = spawnApi(env.config, { SSE_HEARTBEAT_SECONDS: String(HEARTBEAT_MS / 1000) });
  processes.push(web, spawnWorker('inapp', env.config), spawnWorker('email', env.config));
  await Promise.all(processes.map((p) => p.started()));
  // The router renders small fan-outs' in-app rows, within the budget like every render: it may run here.
  await env.startRouter();
  url = web.url();
  api = apiClient(url);
  await seedDirectory(api, 'acme', ['u1']);
}, 120_000);

afterAll(async () => {
  // A process still rendering a bomb would not stop on SIGTERM.
  await Promise.all(processes.map((p) => p.kill9()));
  await env?.cleanup();
  await smtp?.close();
});

/** Times an answer against a deadline; null when there was none by then. */
async function timed<T>(answer: Promise<T>, timeoutMs: number): Promise<{ value: T; ms: number } | null> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const result = await Promise.race([answer.then((value) => ({ value, ms: performance.now() - started })), late]);
  clearTimeout(timer);
  return result;
}

/** A live stream read raw, recording when each comment heartbeat arrived (EventSource hides comments). */
async function heartbeatRecorder(token: string) {
  const controller = new AbortController();
  const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  expect(res.status).toBe(200);
  const beats: number[] = [];
  let received = '';
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of res.body!) {
        const text = decoder.decode(chunk as Uint8Array, { stream: true });
        received = (received + text).slice(-500);
        for (const _ of text.matchAll(/: heartbeat/g)) beats.push(performance.now());
      }
    } catch {
      // aborted at the end of the test
    }
  })();
  return { beats, received: () => received, close: () => controller.abort() };
}

describe('template render budget (SPEC §7.1)', () => {
  it('answers the preview bomb 422 within a second while /healthz and a live stream keep going', async () => {
    const stream = await heartbeatRecorder(await env.userToken('u1', ['acme']));
    try {
      await eventually(async () => stream.beats.length >= 4, 15_000).catch((err: Error) => {
        throw new Error(`${err.message}: no heartbeats before the attack; the stream said ${JSON.stringify(stream.received())}; the API said ${web.output().slice(-1_500)}`);
      });
      // What this machine gives right now without any attack: on a busy one (other suites, other
      // engineers) a /healthz round trip or a heartbeat alone can be late. The limits below are
      // the issue's, on top of that.
      const quiet: number[] = [];
      for (let i = 0; i < 3; i++) quiet.push((await timed(fetch(`${url}/healthz`), 5_000))!.ms);
      const quietBeats = stream.beats.slice(-4);
      const quietGap = Math.max(HEARTBEAT_MS, ...quietBeats.slice(1).map((t, i) => t - quietBeats[i]!));

      const attackedAt = performance.now();
      const attack = timed(api.post('/api/v1/templates/preview', { tenantId: 'acme', eventType: 'bomb', channel: 'inapp', data: { a: ZEROS }, template: { title: BOMB } }), 5_000);
      await new Promise((r) => setTimeout(r, 10));
      const health = await timed(fetch(`${url}/healthz`), 5_000);
      const answer = await attack;
      // Two more heartbeats, so the gaps measured span the whole attack.
      const seen = stream.beats.length;
      await eventually(async () => stream.beats.length >= seen + 2, 5_000).catch(() => null);
      const during = stream.beats.filter((t, i) => t >= attackedAt || stream.beats[i + 1]! >= attackedAt);

      expect(answer, 'the bomb preview got no answer within 5 s').not.toBeNull();
      expect(answer!.value.status).toBe(422);
      expect(answer!.value.body.error.code).toBe('template_too_expensive');
      expect(answer!.value.body.error.details[0].field).toBe('template.title');
      expect(answer!.ms).toBeLessThan(1_000);
      expect(health, '/healthz got no answer within 5 s').not.toBeNull();
      expect(health!.ms, `quiet /healthz took ${quiet.map(Math.round).join(', ')} ms`).toBeLessThan(200 + Math.max(...quiet));
      const gaps = during.slice(1).map((t, i) => t - during[i]!);
      expect(gaps.length).toBeGreaterThanOrEqual(2);
      expect(Math.max(...gaps), `heartbeat gaps ${gaps.map(Math.round).join(', ')} ms; quiet ${Math.round(quietGap)} ms`).toBeLessThan(quietGap + 300);
    } finally {
      stream.close();
    }
  });

  it('refuses at save what fails the trial render with the event type’s sample data: exploding inline partials, too many expressions', async () => {
    // Ten partials, each calling the one before ten times: 10^10 calls, with no data at all.
    const partials = Array.from({ length: 10 }, (_, i) => `{{#*inline "p${i + 1}"}}${`{{> p${i}}}`.repeat(10)}{{/inline}}`).join('');
    const exploding = `{{#*inline "p0"}}x{{/inline}}${partials}{{> p10}}`;
    const saved = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'partial_bomb', channel: 'email', subject: 's', html: exploding });
    expect(saved.status).toBe(422);
    expect(saved.body.error).toMatchObject({ code: 'template_too_expensive', details: [expect.objectContaining({ field: 'html' })] });

    const selfCalling = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'partial_bomb', channel: 'inapp', title: '{{#*inline "r"}}{{> r}}{{/inline}}{{> r}}' });
    expect(selfCalling.status).toBe(422);
    expect(selfCalling.body.error.code).toBe('template_too_expensive');

    const long = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'partial_bomb', channel: 'email', subject: 's', html: '<p>{{data.title}}</p>'.repeat(1_001) });
    expect(long.status).toBe(422);
    expect(long.body.error.details[0].field).toBe('html');

    // The event type's sample data is what save renders with: a loop over it is fine.
    const fine = await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'finding_created', channel: 'inapp', title: '{{#each data}}{{@key}} {{/each}}' });
    expect(fine.status).toBe(201);
    expect((await api.get('/api/v1/templates?tenantId=acme')).body.items.map((t: { eventType: string }) => t.eventType)).not.toContain('partial_bomb');
  });

  it('fails a stored bomb’s email and in-app delivery for good with template_too_expensive, and the next event’s in-app row still arrives', async () => {
    for (const template of [
      { channel: 'email', subject: 'Bomb', html: `<p>${BOMB}</p>` },
      { channel: 'inapp', title: `Bomb ${BOMB}` },
    ]) {
      // Saving renders with sample data, which has no `a`: the bomb is only armed by an event.
      expect((await api.post('/api/v1/templates', { tenantId: 'acme', eventType: 'armed', ...template })).status).toBe(201);
    }
    expect((await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'armed', channel: 'email', emailRecipients: ['ops@acme.example'] })).status).toBe(201);

    const bomb = await api.post('/api/v1/events', { tenantId: 'acme', type: 'armed', assigneeUserIds: ['u1'], data: { title: 'armed', a: ZEROS } });
    expect(bomb.status).toBe(202);
    const next = await api.post('/api/v1/events', { tenantId: 'acme', type: 'after_the_bomb', assigneeUserIds: ['u1'], data: { title: 'still flowing' } });
    expect(next.status).toBe(202);

    const token = await env.userToken('u1', ['acme']);
    await eventually(async () => {
      const items = (await api.get('/api/v1/notifications', token)).body.items as { eventId: string }[];
      return items.some((n) => n.eventId === next.body.id);
    }, 15_000);
    // The bomb's own in-app delivery failed for good with the reason (SPEC §7.1), and wrote no row.
    const inapp = await eventually(async () => {
      const items = (await api.get(`/api/v1/events/${bomb.body.id}/deliveries`)).body.items as { channel: string; state: string; lastError: string | null }[];
      const row = items.find((d) => d.channel === 'inapp');
      return row && row.state !== 'pending' ? row : null;
    }, 15_000);
    expect(inapp.state).toBe('failed');
    expect(inapp.lastError).toContain('template_too_expensive');
    const inbox = (await api.get('/api/v1/notifications', token)).body.items as { eventId: string }[];
    expect(inbox.some((n) => n.eventId === bomb.body.id)).toBe(false);

    const email = await eventually(async () => {
      const items = (await api.get(`/api/v1/events/${bomb.body.id}/deliveries`)).body.items as { channel: string; state: string; attempts: number; lastError: string }[];
      const row = items.find((d) => d.channel === 'email');
      return row && row.state !== 'pending' ? row : null;
    }, 15_000);
    expect(email).toMatchObject({ state: 'failed', attempts: 1 });
    expect(email.lastError).toContain('template_too_expensive');
    expect(smtp.to('ops@acme.example')).toEqual([]);
  });
});
