import { describe, expect, it } from 'vitest';
import { brandContext } from '../../src/templates/branding.ts';
import { builtinEmailTemplate } from '../../src/templates/builtins.ts';
import { compileTemplate, contentKindOf, htmlToText, oneLine, renderTemplate, type EmailContent } from '../../src/templates/content.ts';
import { compileField, TemplateError } from '../../src/templates/handlebars.ts';
import { previewContext } from '../../src/templates/templateInput.ts';

const SEED_TYPES = [
  'finding_created',
  'finding_assigned',
  'finding_reopened',
  'sla_breached',
  'scan_completed',
  'report_ready',
  'approval_requested',
  'approval_approved',
  'approval_rejected',
  'approval_cancelled',
  'approval_expired',
];

const brand = brandContext('Acme', { companyName: 'Acme Security', primaryColor: '#ff6600', footerText: 'Acme Corp, 1 Main St', logoUrl: 'https://cdn.acme.example/logo.png' }).brand;

function syntaxErrorOf(source: string): TemplateError {
  try {
    compileField('html', source, true);
  } catch (err) {
    if (err instanceof TemplateError) return err;
    throw err;
  }
  throw new Error('compiled without an error');
}

describe('compiling', () => {
  it('names the line of a syntax error', () => {
    const unclosed = syntaxErrorOf('<p>\n{{#if data.title}}\n{{data.title}}\n');
    expect(unclosed.line).toBe(4);
    expect(unclosed.field).toBe('html');
    const broken = syntaxErrorOf('one\ntwo\n{{data.title}\nfour');
    expect(broken.line).toBe(3);
    expect(broken.message).toMatch(/^html: line 3: parse error/);
    const mismatched = syntaxErrorOf('a\n{{#if x}}\n{{/each}}');
    expect(mismatched.line).toBe(2);
    expect(mismatched.reason).toContain("if doesn't match each");
  });

  it('refuses an unknown helper when saved, not when an event arrives', () => {
    const err = syntaxErrorOf('hello\n{{shout data.title}}');
    expect(err.reason).toContain('shout');
    expect(err.line).toBe(2);
  });
});

describe('rendering', () => {
  const context = previewContext('evt_1', 'finding_created', { title: '<script>alert(1)</script> & "quotes"', url: 'javascript:alert(1)' }, { brand });

  it('escapes HTML in the html part and leaves plain-text parts readable', () => {
    const template = compileTemplate('email', { subject: 'New: {{data.title}}', html: '<h1>{{data.title}}</h1>', text: 'Title: {{data.title}}' });
    const out = renderTemplate(template, context) as EmailContent;
    expect(out.html).toBe('<h1>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;</h1>');
    expect(out.text).toBe('Title: <script>alert(1)</script> & "quotes"');
    expect(out.subject).toBe('New: <script>alert(1)</script> & "quotes"');
  });

  it('gives no access to prototypes', () => {
    const template = compileTemplate('message', {
      title: 'x{{data.constructor.name}}{{data.__proto__}}{{lookup data "constructor"}}{{#with data}}{{constructor}}{{__defineGetter__}}{{/with}}y',
      body: '{{event.constructor.constructor}}',
    });
    expect(renderTemplate(template, context)).toEqual({ title: 'xy', body: '' });
  });

  it('keeps a subject on one line, so no header can be injected through it', () => {
    const template = compileTemplate('email', { subject: '{{data.title}}', html: '<p>x</p>' });
    const hostile = previewContext('evt_2', 't', { title: 'Hi\r\nBcc: victim@example.com\nX-Evil: 1' });
    expect((renderTemplate(template, hostile) as EmailContent).subject).toBe('Hi Bcc: victim@example.com X-Evil: 1');
    expect(oneLine('a\u2028b\u0000c')).toBe('a b c');
  });

  it('derives the plain-text part from the HTML when a template has none', () => {
    const template = compileTemplate('email', { subject: 's', html: '<p>Hello &amp; welcome</p><p><a href="{{safeUrl data.url}}">Open</a></p>' });
    const out = renderTemplate(template, previewContext('e', 't', { url: 'https://app.example/x?a=1&b=2' })) as EmailContent;
    expect(out.text).toBe('Hello & welcome\nOpen (https://app.example/x?a=1&b=2)');
    expect(htmlToText('<style>p{}</style><div>a<br>b</div>')).toBe('a\nb');
  });

  it('renders every seed type and the generic default with the brand in both parts and only safe links', () => {
    for (const type of [...SEED_TYPES, 'something_else']) {
      const out = renderTemplate(builtinEmailTemplate(type), previewContext('evt', type, { title: 'Thing 42', url: 'https://app.example/42' }, { brand })) as EmailContent;
      expect(out.subject, type).toContain('Thing 42');
      expect(out.html, type).toContain('#ff6600');
      expect(out.html, type).toContain('https://cdn.acme.example/logo.png');
      expect(out.html, type).toContain('Acme Corp, 1 Main St');
      expect(out.text, type).toContain('Acme Corp, 1 Main St');
      expect(out.text, type).toContain('https://app.example/42');
    }
    const unsafe = renderTemplate(builtinEmailTemplate('finding_created'), context) as EmailContent;
    expect(unsafe.html).not.toContain('javascript:');
    expect((renderTemplate(builtinEmailTemplate('finding_created'), context) as EmailContent).subject).toContain('New high finding');
  });

  it('knows which channels are templated', () => {
    expect(contentKindOf('email')).toBe('email');
    expect(['inapp', 'push', 'slack', 'teams'].map(contentKindOf)).toEqual(['message', 'message', 'message', 'message']);
    expect(contentKindOf('webhook')).toBeNull();
  });
});
