/**
 * Issue #14 item 7: webhook secrets and chat URLs never reach a log line or an error message,
 * not even inside a database error — whose message repeats the query's parameters (Drizzle) and
 * whose `detail` repeats the failing row (Postgres). Each test breaks the real database so that
 * a write carrying a secret fails there, then reads what was logged.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { users } from '../../src/db/schema.ts';
import { loggableError, rootCauseMessage } from '../../src/errors.ts';
import { startWeb, type Web } from '../../src/http/web.ts';
import { apiClient, seedDirectory, type ApiClient } from '../helpers/api.ts';
import { capturedLog } from '../helpers/capturedLog.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

const WEBHOOK = 'https://hooks.example.com/receiver/webhook-path-token-7f3a';
const SLACK = 'https://hooks.slack.com/services/TSECRET/BSECRET/slack-path-token-91c2';
const TEAMS = 'https://acme.webhook.office.com/webhookb2/teams-path-token-44d0';

let env: TestEnv;
let web: Web;
let api: ApiClient;
const { logger, lines } = capturedLog();

beforeAll(async () => {
  env = await createTestEnv();
  web = await startWeb(env.config, logger, 0);
  api = apiClient(web.url);
  await seedDirectory(api, 'acme', ['u1']);
});
afterAll(async () => {
  await web?.close();
  await env?.cleanup();
});

/** What was logged since `from`, as one text. */
const loggedSince = (from: number) => lines.slice(from).join('');

describe('database errors in logs and answers (SPEC §7.1)', () => {
  it('logs a failed rule insert without its webhook URL or signing secret, yet with what went wrong', async () => {
    // Every new rule now fails in Postgres, with the row (URL and secret) in the error's detail.
    await env.db.$client.unsafe('alter table rules add constraint herald_refuse_rules check (false) not valid');
    const from = lines.length;
    const res = await api.post('/api/v1/rules', { tenantId: 'acme', eventType: 'x', channel: 'webhook', webhookUrl: WEBHOOK });
    expect(res.status).toBe(500);
    const logged = loggedSince(from);
    expect(logged).toContain('"request failed"');
    expect(logged).toContain('23514');
    expect(logged).toContain('herald_refuse_rules');
    expect(logged).toContain('webhook_url');
    expect(logged).not.toContain('webhook-path-token');
    expect(logged).not.toContain('whsec_');
    expect(logged).not.toContain('Failing row');
    expect(JSON.stringify(res.body)).not.toContain('webhook-path-token');
  });

  it('logs failed writes of personal chat URLs without them, even when Postgres quotes the value in its message', async () => {
    // A URL is now no valid value for the columns: Postgres says `invalid input syntax for type uuid: "<the URL>"`.
    await env.db.$client.unsafe('alter table users alter column slack_webhook_url type uuid using null, alter column teams_webhook_url type uuid using null');
    const from = lines.length;
    const put = await api.put('/api/v1/users/u2', { email: 'u2@acme.example', name: 'U2', tenantIds: ['acme'], slackWebhookUrl: SLACK });
    const chat = await api.put('/api/v1/me/chat', { teamsWebhookUrl: TEAMS }, await env.userToken('u1', ['acme']));
    expect([put.status, chat.status]).toEqual([500, 500]);
    const logged = loggedSince(from);
    expect(logged).toContain('22P02');
    expect(logged).not.toContain('slack-path-token');
    expect(logged).not.toContain('teams-path-token');
  });

  it('keeps the secret out of the text a worker logs and stores as a delivery’s last error', async () => {
    const failed = await env.db
      .update(users)
      .set({ slackWebhookUrl: SLACK })
      .where(eq(users.id, 'u1'))
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(failed, 'the broken column must make the update fail').toBeInstanceOf(Error);
    // The raw error does carry it: in the wrapper's message and in the driver's.
    expect(String((failed as Error).message)).toContain('slack-path-token');
    expect(rootCauseMessage(failed)).toContain('invalid input syntax for type uuid');
    expect(rootCauseMessage(failed)).not.toContain('slack-path-token');
    expect(JSON.stringify(loggableError(failed))).not.toContain('slack-path-token');
  });
});
