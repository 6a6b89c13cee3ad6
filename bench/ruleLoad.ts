/**
 * The "200 rules per tenant" load of issue #16: a tenant's rule set that a real platform could
 * have — patterns and exact types, every resolver kind but teams, in-app, email, webhook and
 * Slack, some with content and timed delivery — none of which matches the events a scenario
 * sends, so the notifications stay the same and only the cost of having the rules shows.
 */
import { matchesEventPattern } from '../src/routing/eventPattern.ts';
import { createJsonClient, type BenchEnv, type Child } from './harness.ts';

export const RULES_PER_TENANT = Number(process.env.BENCH_RULES_PER_TENANT ?? 200);

const PATTERNS = [
  'billing.*', 'billing.invoice.*', 'billing.payment-failed', 'billing.subscription.renewed', 'invoice.paid',
  'invoice.overdue', 'payment.refunded', 'provisioning.*', 'provisioning.step-*', 'provisioning.failed',
  'provisioning.rolled-back', 'order.created', 'order.cancelled', 'order.*', 'ticket.*',
  'ticket.reply-added', 'ticket.assigned', 'support.escalated', 'user.invited', 'user.password-reset',
  'identity.*', 'auth.login-failed', 'security.*', 'backup.completed', '*.failed',
  'dns.record-changed', 'domain.expiring', 'certificate.expiring', 'deploy.*', 'deploy.step-*',
  'message.posted', 'conversation.*', 'task.completed', 'quota.exceeded', 'usage.threshold-*',
  'maintenance.scheduled', 'incident.*', 'monitor:cpu.*', 'finding_resolved', 'scan_*',
];

const RESOLVERS = [
  { kind: 'event' },
  { kind: 'role', role: 'admin' },
  { kind: 'users', userIds: ['ops-1', 'ops-2', 'billing-lead'] },
  { kind: 'data', path: 'participantIds' },
  { kind: 'data', path: 'order.ownerId' },
] as const;

const CHANNEL_SETS = [['inapp'], ['inapp', 'email'], ['email'], ['webhook'], ['inapp', 'slack'], ['slack'], ['email', 'webhook']];
const PRIORITIES = [undefined, 'low', 'normal', 'high', 'urgent'] as const;

const CONTENT = {
  title: '{{#if data.title}}{{data.title}}{{else}}{{event.type}}{{/if}}',
  body: '{{#if data.amount}}Amount {{data.amount}}{{/if}} {{#each data.items}}{{this.name}} × {{this.quantity}}; {{/each}}',
  url: 'https://app.example.com/{{event.tenantId}}/events/{{event.id}}',
};

/**
 * `count` distinct rule bodies (pattern × resolver is unique up to 200, so the unique index
 * never refuses one), none matching `avoidType`. Every third carries content, every fifth
 * in-app rule an email fallback, every fourth email rule a digest.
 */
export function unmatchedRuleBodies(count: number, avoidType: string): Record<string, unknown>[] {
  const matching = PATTERNS.filter((pattern) => matchesEventPattern(pattern, avoidType));
  if (matching.length > 0) throw new Error(`bench rules would match ${avoidType}: ${matching.join(', ')}`);
  if (count > PATTERNS.length * RESOLVERS.length) throw new Error(`at most ${PATTERNS.length * RESOLVERS.length} distinct bench rules`);
  return Array.from({ length: count }, (_, i) => {
    const channels = CHANNEL_SETS[i % CHANNEL_SETS.length]!;
    const inapp = channels.includes('inapp');
    const email = channels.includes('email');
    return {
      eventType: PATTERNS[i % PATTERNS.length],
      channels,
      recipients: RESOLVERS[Math.floor(i / PATTERNS.length) % RESOLVERS.length],
      severityFilter: i % 6 === 0 ? 'high' : '',
      ...(PRIORITIES[i % PRIORITIES.length] && { priority: PRIORITIES[i % PRIORITIES.length] }),
      ...(i % 3 === 0 && channels.some((c) => c !== 'webhook') && { content: CONTENT }),
      ...(channels.includes('webhook') && { webhookUrl: `https://hooks.example.com/herald/${i}` }),
      ...(email && i % 2 === 0 && { emailRecipients: ['ops@example.com'] }),
      ...(inapp && i % 5 === 0 && { delivery: { fallback: { channel: 'email', afterSeconds: 300, unless: 'read' } } }),
      ...(email && !inapp && i % 4 === 0 && { delivery: { digest: { windowSeconds: 3_600, key: 'order.ownerId', maxItems: 50 } } }),
    };
  });
}

/**
 * Gives each tenant `count` enabled rules that do not match `avoidType`. The first tenant's are
 * created over the API (POST /api/v1/rules: validated, content checked, signing secrets made);
 * the other tenants get copies of those rows in one INSERT … SELECT, since thousands of POSTs
 * would make the setup the longest part of a scenario. Their rules_version moves as a rule
 * write's does, so a router that cached them reads them again.
 */
export async function seedUnmatchedRules(env: BenchEnv, web: Child, tenantIds: string[], avoidType: string, count = RULES_PER_TENANT): Promise<void> {
  const [first, ...others] = tenantIds;
  if (!first) return;
  const client = createJsonClient(web.url, 8);
  const bodies = unmatchedRuleBodies(count, avoidType);
  try {
    for (let i = 0; i < bodies.length; i += 8) {
      await Promise.all(
        bodies.slice(i, i + 8).map(async (body) => {
          const res = await client.post('/api/v1/rules', { tenantId: first, ...body });
          if (res.status !== 201) throw new Error(`POST /api/v1/rules answered ${res.status}: ${res.body}`);
        }),
      );
    }
  } finally {
    client.close();
  }
  await env.sql.begin(async (tx) => {
    await tx`
      insert into rules (tenant_id, event_type, channels, severity_filter, enabled, email_recipients, webhook_url, secret, recipients, priority, content, delivery)
      select t.id, r.event_type, r.channels, r.severity_filter, r.enabled, r.email_recipients, r.webhook_url, r.secret, r.recipients, r.priority, r.content, r.delivery
      from rules r cross join unnest(${others}::text[]) as t(id)
      where r.tenant_id = ${first}`;
    await tx`update tenants set rules_version = rules_version + 1 where id = any(${others}::text[])`;
  });
  const [seeded] = await env.sql<{ n: number }[]>`select count(*)::int as n from rules where tenant_id = any(${tenantIds}::text[]) and enabled`;
  if (seeded!.n !== count * tenantIds.length) throw new Error(`seeded ${seeded!.n} rules, not ${count} for each of ${tenantIds.length} tenants`);
}
