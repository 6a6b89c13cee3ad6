import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/intake/eventEnvelope.ts';
import { matchesEventPattern } from '../../src/routing/eventPattern.ts';
import { platformPack } from '../../src/rules/packs/platform.ts';
import type { ServiceDelivered } from '../../src/rules/packs/platformOrders.ts';
import type { PackRule } from '../../src/rules/packs/rulePack.ts';
import { brandContext } from '../../src/templates/branding.ts';
import type { EmailContent } from '../../src/templates/content.ts';
import { checkRuleContent, compileRuleContent, renderRuleContent, type RenderedRuleContent } from '../../src/templates/ruleContent.ts';
import { checkRender, checkTemplate, previewContext } from '../../src/templates/templateInput.ts';

/** SPEC §3.2: the platform module's events. */
const EVENT_TYPES = [
  'order.created',
  'order.fulfilled',
  'order.failed',
  'order.cancelled',
  'order.service-delivered',
  'provisioning.started',
  'provisioning.step-completed',
  'provisioning.completed',
  'provisioning.failed',
  'provisioning.rolled-back',
  'provisioning.service-suspended',
  'billing.invoice-generated',
  'billing.payment-received',
  'billing.subscription-past-due',
  'billing.refund-completed',
  'billing.subscription-cancelled',
  'support.ticket-created',
  'support.comment-added',
  'support.ticket-resolved',
  'support.ticket-assigned',
  'support.ticket-closed',
  'identity.user-created',
];

const { rules, emailTemplates, sampleData } = platformPack;
const isCustomerRule = (rule: PackRule) => rule.recipients === undefined || rule.recipients.kind === 'event';
const isAdminRule = (rule: PackRule) => rule.recipients?.kind === 'role' && rule.recipients.role === 'admin';
const rulesFor = (type: string, audience: (rule: PackRule) => boolean) => rules.filter((r) => audience(r) && matchesEventPattern(r.eventType, type));

function envelope(type: string, data: Record<string, unknown>): EventEnvelope {
  return {
    id: `evt_${type}`,
    type,
    tenantId: 'acme',
    severity: null,
    actorId: null,
    occurredAt: '2026-11-23T10:00:00.000Z',
    assigneeUserIds: [],
    assigneeTeamIds: [],
    recipientUserIds: ['customer'],
    approval: null,
    data,
  };
}

/** A rule's in-app text for an event with this data, within the render budget (a TemplateTooExpensiveError past it). */
function renderContent(rule: PackRule, type: string, data: Record<string, unknown> = sampleData[type]!): RenderedRuleContent {
  return renderRuleContent(compileRuleContent(rule.content!), envelope(type, data), null, brandContext('Acme', {}).brand);
}

/** An email template rendered as the API's save and preview check it (templates API: checkTemplate, then checkRender). */
function renderEmail(type: string, data: Record<string, unknown> = sampleData[type]!): EmailContent {
  const template = emailTemplates.find((t) => t.eventType === type)!;
  const compiled = checkTemplate('email', { subject: template.subject, html: template.html, text: template.text }, type);
  if (!compiled.ok) throw new Error(`${type}: ${JSON.stringify(compiled.problems)}`);
  const rendered = checkRender(compiled.value, previewContext(`evt_${type}`, type, data, { user: { id: 'customer', name: 'Dana Whitfield', email: 'dana@acme.example' } }));
  if (!rendered.ok) throw new Error(`${type}: ${JSON.stringify(rendered.problems)}`);
  return rendered.value as EmailContent;
}

/** The data with every string (nested too) replaced by what `replace` makes of it and its key. */
function mapStrings(value: unknown, replace: (text: string, key: string) => string, key = ''): unknown {
  if (typeof value === 'string') return replace(value, key);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, replace, key));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mapStrings(v, replace, k)]));
  return value;
}

describe('the platform pack', () => {
  it('covers each of the 22 events for customers with an in-app and email rule, an email template and sample data', () => {
    expect(platformPack.id).toBe('platform');
    for (const type of EVENT_TYPES) {
      const customer = rulesFor(type, isCustomerRule);
      expect(customer.some((r) => r.channels.includes('inapp') && r.channels.includes('email') && r.content?.title), type).toBe(true);
      expect(emailTemplates.filter((t) => t.eventType === type), type).toHaveLength(1);
      expect(Object.keys(sampleData[type] ?? {}).length, type).toBeGreaterThan(0);
    }
    expect(emailTemplates.map((t) => t.eventType).sort()).toEqual([...EVENT_TYPES].sort());
    expect(Object.keys(sampleData).sort()).toEqual([...EVENT_TYPES].sort());
    // Every rule is for the customer or for admins, and reaches at least one pack event.
    for (const rule of rules) {
      expect(isCustomerRule(rule) || isAdminRule(rule), rule.eventType).toBe(true);
      expect(EVENT_TYPES.some((type) => matchesEventPattern(rule.eventType, type)), rule.eventType).toBe(true);
    }
  });

  it('gives admins in-app alerts only: every new order, provisioning progress, and failures and rollbacks at priority high', () => {
    const alerted = EVENT_TYPES.filter((type) => rulesFor(type, isAdminRule).length > 0);
    expect(alerted).toEqual(['order.created', 'order.failed', 'provisioning.started', 'provisioning.step-completed', 'provisioning.completed', 'provisioning.failed', 'provisioning.rolled-back']);
    for (const rule of rules.filter(isAdminRule)) expect(rule.channels, rule.eventType).toEqual(['inapp']);
    for (const type of ['order.failed', 'provisioning.failed', 'provisioning.rolled-back']) {
      expect(rulesFor(type, isAdminRule).map((r) => r.priority), type).toEqual(['high']);
    }
    expect(rules.some((r) => isAdminRule(r) && r.eventType === '*.failed')).toBe(true);
    for (const type of ['order.created', 'provisioning.started', 'provisioning.step-completed', 'provisioning.completed']) {
      expect(rulesFor(type, isAdminRule).map((r) => r.priority), type).toEqual([undefined]);
    }
  });

  it('saves: every rule’s content and every email template passes the API’s save-time check', () => {
    for (const rule of rules) expect(checkRuleContent(rule.content!, rule.eventType), rule.eventType).toEqual({ problems: [], tooExpensive: false });
    for (const template of emailTemplates) {
      const check = checkTemplate('email', { subject: template.subject, html: template.html, text: template.text }, template.eventType);
      expect(check.ok ? [] : check.problems, template.eventType).toEqual([]);
    }
  });

  it('renders every rule’s content and every email with its sample data, within the render budget and without a gap', () => {
    for (const type of EVENT_TYPES) {
      for (const rule of [...rulesFor(type, isCustomerRule), ...rulesFor(type, isAdminRule)]) {
        const content = renderContent(rule, type);
        expect(content.title, `${rule.eventType} for ${type}`).toBeTruthy();
        expect(content.body, `${rule.eventType} for ${type}`).toBeTruthy();
        expect(content.url, `${rule.eventType} for ${type}`).toMatch(/^https:\/\/portal\.example\.com\//);
      }
      const email = renderEmail(type);
      expect(email.subject, type).toBeTruthy();
      // The greeting uses the recipient's name; the footer, the tenant's brand.
      expect(email.html, type).toContain('Hello Dana Whitfield,');
      expect(email.text, type).toContain('Hello Dana Whitfield,');
      expect(email.text, type).toMatch(/\nSent by Herald\.$/);
      for (const part of [email.subject, email.html, email.text]) expect(part, type).not.toMatch(/{{|}}|undefined|\[object Object\]/);
      // Every link is an http(s) link.
      for (const [, href] of email.html.matchAll(/href="([^"]*)"/g)) expect(href, type).toMatch(/^https?:\/\//);
    }
  });

  it('keeps a large order well inside the render budget', () => {
    const items = Array.from({ length: 1_000 }, (_, i) => ({ name: `Item ${i}`, quantity: 1, unitPrice: '1.00' }));
    const data = { ...sampleData['order.created']!, items, total: '1000.00' };
    const email = renderEmail('order.created', data);
    expect(email.html).toContain('Item 999');
    expect(email.text).toContain('- 1 × Item 999, 1.00 EUR each');
    expect(renderContent(rulesFor('order.created', isAdminRule)[0]!, 'order.created', data).body).toContain('1 × Item 0 at 1.00 EUR');
  });

  it('mails the service’s access details from data: IP, hostname, SSH command, endpoints, recommendations and the dashboard link', () => {
    const data = sampleData['order.service-delivered'] as ServiceDelivered;
    const { subject, html, text } = renderEmail('order.service-delivered');
    expect(subject).toBe('VPS Standard (2 vCPU, 4 GB RAM) is ready: your access details');
    for (const part of [html, text]) {
      for (const expected of [data.ipAddress, data.hostname, data.sshCommand, data.endpoints.http, data.endpoints.https, data.dashboardUrl, ...data.securityRecommendations]) {
        expect(part).toContain(expected);
      }
    }
    expect(html).toMatch(new RegExp(`<code style="[^"]*">${data.sshCommand}</code>`));
    for (const url of [data.endpoints.http, data.endpoints.https, data.dashboardUrl]) expect(html).toContain(`href="${url}"`);
    for (const recommendation of data.securityRecommendations) {
      expect(html).toContain(`<li>${recommendation}</li>`);
      expect(text).toContain(`- ${recommendation}\n`);
    }
    expect(text).toContain(`Open the dashboard: ${data.dashboardUrl}`);
  });

  it('confirms an order with its items and total, and an invoice with its number, amount, due date and link', () => {
    const order = renderEmail('order.created');
    expect(order.subject).toBe('Your order ORD-1042 is confirmed');
    const rows = [...order.html.matchAll(/<tr>(.*?)<\/tr>/g)].map(([, row]) => [...row!.matchAll(/<t[dh][^>]*>(.*?)<\/t[dh]>/g)].map(([, cell]) => cell));
    const header = rows.findIndex((cells) => cells[0] === 'Item');
    expect(rows.slice(header, header + 5)).toEqual([
      ['Item', 'Quantity', 'Unit price'],
      ['VPS Standard (2 vCPU, 4 GB RAM)', '1', '24.00 EUR'],
      ['Daily backups', '1', '4.80 EUR'],
      ['Additional IPv4 address', '2', '2.50 EUR'],
      ['<strong>Total</strong>', '<strong>33.80 EUR</strong>'],
    ]);
    expect(order.text).toContain(
      '- 1 × VPS Standard (2 vCPU, 4 GB RAM), 24.00 EUR each\n- 1 × Daily backups, 4.80 EUR each\n- 2 × Additional IPv4 address, 2.50 EUR each\nTotal: 33.80 EUR\n',
    );

    const invoice = renderEmail('billing.invoice-generated');
    expect(invoice.subject).toBe('Invoice INV-2026-0042 for 33.80 EUR');
    expect(invoice.text).toContain('Invoice number: INV-2026-0042\nAmount: 33.80 EUR\nDue: 7 Dec 2026, 23:59 UTC\n');
    expect(invoice.html).toContain('href="https://portal.example.com/billing/invoices/INV-2026-0042"');
  });

  it('welcomes a new user with their username and a set-password link, never a password', () => {
    expect(JSON.stringify(sampleData['identity.user-created']).toLowerCase()).not.toContain('"password"');
    const template = emailTemplates.find((t) => t.eventType === 'identity.user-created')!;
    for (const part of [template.subject, template.html, template.text]) expect(part).not.toMatch(/data\.password/i);
    const { html, text } = renderEmail('identity.user-created');
    expect(text).toContain('Username: dana.whitfield');
    expect(text).toContain('Choose your password: https://portal.example.com/account/set-password?token=3f9c1e0b7d');
    // Handlebars escapes `=` in attribute values; a mail client reads the same address.
    expect(html).toContain('href="https://portal.example.com/account/set-password?token&#x3D;3f9c1e0b7d"');
    expect(html).toContain('href="https://portal.example.com/login"');
  });

  it('never turns a javascript: URL from data into a link', () => {
    const hostile = 'javascript:alert(document.cookie)';
    for (const type of EVENT_TYPES) {
      const data = mapStrings(sampleData[type], (text, key) => (/url$/i.test(key) || /^https?:/.test(text) ? hostile : text)) as Record<string, unknown>;
      const email = renderEmail(type, data);
      for (const part of [email.html, email.text]) expect(part, type).not.toContain('javascript:');
      for (const rule of [...rulesFor(type, isCustomerRule), ...rulesFor(type, isAdminRule)]) expect(renderContent(rule, type, data).url, type).toBeNull();
    }
  });

  it('escapes HTML from data in the HTML part, and keeps it as typed in the text part and in-app', () => {
    const markup = '<img src=x onerror=alert(1)>';
    for (const type of EVENT_TYPES) {
      const data = mapStrings(sampleData[type], (text) => `${text}${markup}`) as Record<string, unknown>;
      const email = renderEmail(type, data);
      expect(email.html, type).not.toContain('<img src=x');
      expect(email.html, type).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
      expect(email.text, type).toContain(markup);
    }
    const delivered = renderEmail('order.service-delivered', { ...sampleData['order.service-delivered'], hostname: '<b>vps</b>' });
    expect(delivered.html).toContain('&lt;b&gt;vps&lt;/b&gt;');
  });

  it('tells admins the provisioning progress as "Step 2/4: Configuring…"', () => {
    const [progress] = rulesFor('provisioning.step-completed', isAdminRule);
    const data = { ...sampleData['provisioning.step-completed'], step: 2, totalSteps: 4, stepName: 'Configuring' };
    expect(renderContent(progress!, 'provisioning.step-completed', data).title).toBe('Step 2/4: Configuring…');
    expect(renderContent(progress!, 'provisioning.step-completed', { ...data, step: 3, stepName: 'Attaching storage' }).title).toBe('Step 3/4: Attaching storage…');
  });

  it('gives admins each new order’s items, and each failure’s error and affected resources', () => {
    const [newOrder] = rulesFor('order.created', isAdminRule);
    expect(renderContent(newOrder!, 'order.created')).toEqual({
      title: 'New order ORD-1042 from Dana Whitfield',
      body: '1 × VPS Standard (2 vCPU, 4 GB RAM) at 24.00 EUR\n1 × Daily backups at 4.80 EUR\n2 × Additional IPv4 address at 2.50 EUR\nTotal: 33.80 EUR',
      url: 'https://portal.example.com/orders/ORD-1042',
    });
    for (const type of ['order.failed', 'provisioning.failed', 'provisioning.rolled-back']) {
      const data = sampleData[type] as { error: string; affectedResources: string[] };
      const [alert] = rulesFor(type, isAdminRule);
      const { body } = renderContent(alert!, type);
      expect(body, type).toContain(`Error: ${data.error}`);
      expect(body, type).toContain(`Affected resources: ${data.affectedResources.join(', ')}`);
    }
    expect(renderContent(rulesFor('provisioning.failed', isAdminRule)[0]!, 'provisioning.failed').title).toBe('Provisioning failed: VPS Standard (2 vCPU, 4 GB RAM)');
    expect(renderContent(rulesFor('order.failed', isAdminRule)[0]!, 'order.failed').title).toBe('Order failed: ORD-1043');
  });
});
