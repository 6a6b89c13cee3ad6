import Handlebars from 'handlebars';
import { humanize, safeLink } from './defaultContent.ts';
import { budgetedPartial, budgetedUnit, RENDER_LIMITS, RenderBudgetExceeded, withRenderBudget } from './renderBudget.ts';

/**
 * Herald's own Handlebars instance: helpers registered here cannot leak into (or be replaced
 * by) any other user of the global instance. Prototype access stays at Handlebars 4.7's default
 * (blocked), so `{{data.constructor}}` and friends render nothing.
 */
const hb = Handlebars.create();

const HELPERS: Record<string, (...args: unknown[]) => unknown> = {
  humanize: (value) => (typeof value === 'string' ? humanize(value) : ''),
  safeUrl: (value) => safeLink(value) ?? '',
  /** An ISO timestamp as `23 Nov 2026, 10:00 UTC`; anything else unchanged. */
  formatDate: (value) => {
    const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : null;
    if (!date || Number.isNaN(date.getTime())) return typeof value === 'string' ? value : '';
    return `${date.toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: 'UTC' })} UTC`;
  },
};
for (const [name, helper] of Object.entries(HELPERS)) hb.registerHelper(name, helper);

/**
 * Every render runs within renderBudget.ts's budget, checked from inside the render since it is
 * synchronous: each block body the built-in block helpers run (an `each` iteration, an `if`
 * branch — blockHelperMissing is how `{{#list}}` iterates), each partial (inline partials
 * included), and each `{{value}}`, which compileField routes through VALUE_HELPER so one
 * mustache repeating a large value is counted too.
 */
const VALUE_HELPER = 'herald_value';
const BUDGETED = new WeakSet<object>();

type Program = ((context: unknown, options?: unknown) => string) & Record<string, unknown>;
type Vm = { noop: unknown; invokePartial(this: unknown, ...args: unknown[]): string };
// Every partial call goes through the environment's VM (this instance's only), whatever defined the partial.
const vm = hb.VM as unknown as Vm;
(hb as unknown as { VM: Vm }).VM = {
  ...vm,
  invokePartial(this: unknown, ...args: unknown[]) {
    return budgetedPartial(() => vm.invokePartial.apply(this, args));
  },
};

function budgetedProgram(program: unknown): unknown {
  if (typeof program !== 'function' || program === vm.noop || BUDGETED.has(program)) return program;
  const run = program as Program;
  // Handlebars reads what decorators attach to a program (inline partials, block params) off it.
  const wrapped = Object.assign((context: unknown, options?: unknown) => budgetedUnit('iteration', () => run(context, options)), run);
  BUDGETED.add(wrapped);
  return wrapped;
}

for (const name of ['each', 'if', 'unless', 'with', 'blockHelperMissing']) {
  const builtin = hb.helpers[name] as (...args: unknown[]) => unknown;
  hb.registerHelper(name, function (this: unknown, ...args: unknown[]) {
    const options = args[args.length - 1] as { fn?: unknown; inverse?: unknown };
    options.fn = budgetedProgram(options.fn);
    options.inverse = budgetedProgram(options.inverse);
    return builtin.apply(this, args);
  });
}

hb.registerHelper(VALUE_HELPER, (value: unknown) => budgetedUnit('value', () => (value === null || value === undefined ? '' : String(value))));

// `log` would let a template write to the process's console; no template needs it.
const KNOWN_HELPERS = { ...Object.fromEntries([...Object.keys(HELPERS), VALUE_HELPER].map((name) => [name, true])), log: false };

/** A template error a caller can fix: which field, and where in it. */
export class TemplateError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly line: number | null,
    readonly column: number | null,
  ) {
    super(`${field}: ${line === null ? '' : `line ${line}: `}${reason}`);
  }
}

/** SPEC §7.1: a template that went past the render budget. Its reason starts with the code the API answers. */
export class TemplateTooExpensiveError extends TemplateError {
  constructor(field: string, budgetReason: string) {
    super(field, `template_too_expensive: ${budgetReason}`, null, null);
  }
}

export type RenderFn = (context: object) => string;

/**
 * Compiles one template field, failing now (not at first render) with the line of a syntax
 * error. Unknown helpers are compile errors too, since a typo'd helper would otherwise surface
 * only when an event arrives. `html` fields are HTML-escaped; plain-text fields (subject, text,
 * title, body) are not, because escaping would show readers `&amp;` instead of `&`. Every
 * render of the result runs within the render budget (see withRenderBudget).
 */
export function compileField(field: string, source: string, escape: boolean): RenderFn {
  const options = { noEscape: !escape, knownHelpers: KNOWN_HELPERS, knownHelpersOnly: true, strict: false };
  const expressions = source.split('{{').length - 1;
  if (expressions > RENDER_LIMITS.expressionsPerField) {
    throw new TemplateTooExpensiveError(field, `has ${expressions} expressions ({{…}}); at most ${RENDER_LIMITS.expressionsPerField}`);
  }
  let template: HandlebarsTemplateDelegate;
  try {
    const ast = hb.parseWithoutProcessing(source);
    routeValuesThroughBudget(ast);
    template = hb.compile(ast, options);
    // Handlebars compiles on first use: `_setup` makes it compile now, so compile errors surface
    // here and compiling (tens of milliseconds for a long template) is not charged to a render.
    (template as unknown as { _setup(options: object): void })._setup({});
    // A render with nothing catches what only shows when running (a missing partial, inline
    // partials that explode even without data).
    withRenderBudget(() => template({}));
  } catch (err) {
    throw templateErrorOf(field, err);
  }
  return (context) => {
    try {
      return withRenderBudget(() => template(context));
    } catch (err) {
      throw templateErrorOf(field, err);
    }
  };
}

type Statement = hbs.AST.Statement & { program?: hbs.AST.Program; inverse?: hbs.AST.Program };

/** Rewrites every `{{x}}` (and `{{helper x}}`) as `{{herald_value x}}`, in blocks and partial bodies too. */
function routeValuesThroughBudget(program: hbs.AST.Program): void {
  program.body = program.body.map((statement: Statement) => {
    if (statement.type === 'MustacheStatement') return throughValueHelper(statement as hbs.AST.MustacheStatement);
    if (statement.program) routeValuesThroughBudget(statement.program);
    if (statement.inverse) routeValuesThroughBudget(statement.inverse);
    return statement;
  });
}

function throughValueHelper(mustache: hbs.AST.MustacheStatement): hbs.AST.MustacheStatement {
  const path = mustache.path as hbs.AST.PathExpression;
  const helperCall = mustache.params.length > 0 || mustache.hash !== undefined || isHelperName(path);
  const value: hbs.AST.Expression = helperCall
    ? ({ type: 'SubExpression', path, params: mustache.params, hash: mustache.hash, loc: mustache.loc } as hbs.AST.SubExpression)
    : path;
  const helper: hbs.AST.PathExpression = { type: 'PathExpression', data: false, depth: 0, parts: [VALUE_HELPER], original: VALUE_HELPER, loc: path.loc };
  return { ...mustache, path: helper, params: [value], hash: undefined as unknown as hbs.AST.Hash };
}

/** `{{humanize}}` alone calls the helper; passed as a parameter it would be looked up as data. */
function isHelperName(path: hbs.AST.PathExpression): boolean {
  return path.type === 'PathExpression' && !path.data && path.depth === 0 && path.parts.length === 1 && path.original === path.parts[0] && Object.hasOwn(hb.helpers, path.parts[0]!);
}

/** Handlebars reports parse errors as "Parse error on line N:" text and compile errors with `lineNumber`. */
function templateErrorOf(field: string, err: unknown): TemplateError {
  if (err instanceof TemplateError) return err;
  if (err instanceof RenderBudgetExceeded) return new TemplateTooExpensiveError(field, err.reason);
  const e = err as { message?: string; lineNumber?: unknown; column?: unknown };
  const message = String(e.message ?? err);
  const parse = /^Parse error on line (\d+):\n[^\n]*\n[^\n]*\n([\s\S]*)$/.exec(message);
  if (parse) return new TemplateError(field, `parse error: ${parse[2]!.trim()}`, Number(parse[1]), null);
  const line = typeof e.lineNumber === 'number' ? e.lineNumber : null;
  const column = typeof e.column === 'number' ? e.column : null;
  return new TemplateError(field, message.replace(/ - \d+:\d+$/, ''), line, column);
}
