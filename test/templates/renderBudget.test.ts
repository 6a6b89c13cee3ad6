import { describe, expect, it } from 'vitest';
import { compileTemplate, htmlToText, renderTemplate, type EmailContent, type MessageContent } from '../../src/templates/content.ts';
import { compileField, TemplateError, TemplateTooExpensiveError } from '../../src/templates/handlebars.ts';
import { budgetedUnit, RENDER_LIMITS, RenderBudgetExceeded, withRenderBudget } from '../../src/templates/renderBudget.ts';
import { previewContext } from '../../src/templates/templateInput.ts';

const context = (data: Record<string, unknown>) => previewContext('evt', 'budget_test', data);

/** The error a render (or compile) throws, and how long it took to throw it. */
function failure(work: () => unknown): { error: unknown; ms: number } {
  const started = performance.now();
  try {
    work();
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error('did not fail');
}

describe('the render budget', () => {
  it('stops nested loops at 100,000 iterations, long before they would finish', () => {
    const template = compileTemplate('message', { title: '{{#each data.a}}{{#each @root.data.a}}{{#each @root.data.a}}{{/each}}{{/each}}{{/each}}' });
    const { error, ms } = failure(() => renderTemplate(template, context({ a: Array.from({ length: 80_000 }, () => 0) })));
    expect(error).toBeInstanceOf(TemplateTooExpensiveError);
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).field).toBe('title');
    // Which limit comes first depends on the machine: 100,000 iterations take 20-150 ms.
    expect((error as TemplateError).reason).toMatch(/^template_too_expensive: (runs more than 100000 loop iterations|takes longer than 100 ms)/);
    expect(ms).toBeLessThan(1_000);
  });

  it('counts implicit iteration ({{#list}}) and every branch, not only #each', () => {
    const template = compileTemplate('message', { title: '{{#data.a}}{{#@root.data.a}}{{#if this}}x{{else}}y{{/if}}{{/@root.data.a}}{{/data.a}}' });
    expect(() => renderTemplate(template, context({ a: Array.from({ length: 250 }, (_, i) => i) }))).toThrow(TemplateTooExpensiveError);
    // Well inside both limits (100,000 iterations take about as long as 100 ms of CPU), the same shape renders.
    const small = renderTemplate(template, context({ a: Array.from({ length: 20 }, (_, i) => i) })) as MessageContent;
    expect(small.title).toBe(('y' + 'x'.repeat(19)).repeat(20));
  });

  it('stops output past 1 MiB, whether from a loop or from one large value repeated', () => {
    const looped = compileTemplate('email', { subject: 's', html: `{{#each data.a}}${'<p>filler</p>'.repeat(100)}{{/each}}` });
    expect(() => renderTemplate(looped, context({ a: Array.from({ length: 2_000 }, () => 0) }))).toThrow(/renders more than 1048576 characters/);
    // No loop at all: 500 mentions of a 200 KB value would be 100 MB.
    const repeated = compileTemplate('email', { subject: 's', html: '{{data.big}}'.repeat(500) });
    const { error, ms } = failure(() => renderTemplate(repeated, context({ big: 'x'.repeat(200_000) })));
    expect((error as TemplateError).reason).toMatch(/renders more than/);
    expect(ms).toBeLessThan(1_000);
    const raw = compileTemplate('message', { title: '{{{lookup data "big"}}}'.repeat(500) });
    expect(() => renderTemplate(raw, context({ big: 'x'.repeat(200_000) }))).toThrow(TemplateTooExpensiveError);
  });

  it('refuses exploding and self-calling inline partials when compiled, before any event arrives', () => {
    const partials = Array.from({ length: 10 }, (_, i) => `{{#*inline "p${i + 1}"}}${`{{> p${i}}}`.repeat(10)}{{/inline}}`).join('');
    const exploding = failure(() => compileField('html', `{{#*inline "p0"}}x{{/inline}}${partials}{{> p10}}`, true));
    expect(exploding.error).toBeInstanceOf(TemplateTooExpensiveError);
    expect(exploding.ms).toBeLessThan(1_000);
    const recursive = failure(() => compileField('title', '{{#*inline "r"}}{{> r}}{{/inline}}{{> r}}', false));
    expect((recursive.error as TemplateError).reason).toMatch(/template_too_expensive: nests partials more than 64 deep/);
  });

  it('gives up on a render that runs past 100 ms of CPU time however it got there', () => {
    // Busy for 120 ms: the budget counts CPU time, so a busy machine cannot fail a template. The
    // process's CPU time also counts its other threads (a concurrent GC after the tests above ran
    // with it), which can reach 120 ms sooner than one thread could: the render also runs 120 ms
    // by the clock, as a render that used 120 ms of CPU itself must have.
    const slow = () => {
      const started = process.cpuUsage();
      const startedAt = performance.now();
      const past = RENDER_LIMITS.milliseconds + 20;
      for (;;) {
        const used = process.cpuUsage(started);
        if ((used.user + used.system) / 1000 > past && performance.now() - startedAt > past) return 'late';
      }
    };
    expect(() => withRenderBudget(() => budgetedUnit('value', slow))).toThrow(RenderBudgetExceeded);
    // The budget belongs to one render: the next starts afresh.
    expect(withRenderBudget(() => budgetedUnit('value', () => 'on time'))).toBe('on time');
  });

  it('charges a render for its own CPU time, not for the work the process did before it started', () => {
    const burn = (ms: number) => {
      const started = process.cpuUsage();
      for (;;) {
        const used = process.cpuUsage(started);
        if ((used.user + used.system) / 1000 > ms) return 'done';
      }
    };
    // Off a core for 50 ms (as on a busy machine), which the clock counts and the budget must not.
    const wait = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    // A render at the start of a busy stretch, 60 ms of work outside any render, then a render of
    // 60 ms of work and 50 of waiting: its budget is asked once the clock passes 100 ms, and would
    // say 120 ms if the render were charged from where the first one started counting.
    expect(withRenderBudget(() => budgetedUnit('value', () => 'first'))).toBe('first');
    burn(60);
    expect(withRenderBudget(() => budgetedUnit('value', () => burn(60)) + budgetedUnit('value', () => String(wait(50))))).toBe('donetimed-out');
  });

  it('refuses a field with more than 1,000 expressions and the log helper when compiled', () => {
    expect(() => compileField('html', '{{a}}'.repeat(1_001), true)).toThrow(TemplateTooExpensiveError);
    expect(() => compileField('html', '{{a}}'.repeat(1_000), true)).not.toThrow();
    expect(() => compileField('body', '{{log data.title}}', false)).toThrow(/unknown helper log/);
  });

  it('leaves ordinary templates as they were: values, helpers, loops, partials, escaping', () => {
    const template = compileTemplate('email', {
      subject: '{{humanize event.type}}: {{data.title}}',
      html: '{{#*inline "row"}}<li>{{name}} ({{@index}})</li>{{/inline}}<ul>{{#each data.items}}{{> row}}{{/each}}</ul>{{#with data.owner}}<b>{{name}}</b>{{/with}}{{#unless data.missing}}!{{/unless}}{{{data.raw}}}',
    });
    const items = Array.from({ length: 1_000 }, (_, i) => ({ name: `item <${i}>` }));
    const out = renderTemplate(template, context({ title: 'A & B', items, owner: { name: 'Sam' }, raw: '<i>ok</i>' })) as EmailContent;
    expect(out.subject).toBe('Budget test: A & B');
    expect(out.html).toContain('<li>item &lt;999&gt; (999)</li></ul><b>Sam</b>!<i>ok</i>');
    expect(out.text).toContain('item <0> (0)');
    const message = renderTemplate(compileTemplate('message', { title: '{{formatDate event.occurredAt}}', body: '{{safeUrl data.url}}|{{lookup data "title"}}' }), context({ url: 'javascript:alert(1)', title: 't' })) as MessageContent;
    expect(message.body).toBe('|t');
  });
});

describe('htmlToText', () => {
  it('stays linear on many unclosed or unterminated tags', () => {
    for (const hostile of ['<a href="x">'.repeat(40_000), '<style'.repeat(80_000), '<'.repeat(400_000), '<div'.repeat(100_000), `<a${' '.repeat(400_000)}`, `<${'a'.repeat(400_000)}`]) {
      const started = performance.now();
      htmlToText(hostile);
      expect(performance.now() - started, hostile.slice(0, 12)).toBeLessThan(200);
    }
  });

  it('keeps what a reader needs: text, line breaks at block ends, link targets, no style or script', () => {
    expect(htmlToText('<head><title>t</title></head><style>p{}</style><div>a<br>b</div><p>Hello &amp; <a class="btn" href="https://x.example/?a=1&amp;b=2">Open</a></p><script>alert(1)</script>end')).toBe(
      'a\nb\nHello & Open (https://x.example/?a=1&b=2)\nend',
    );
    expect(htmlToText('1 < 2 and <b>bold</b> <abbr>x</abbr>')).toBe('1 < 2 and bold x');
  });
});
