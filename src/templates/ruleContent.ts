import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { RuleContent } from '../routing/ruleSpec.ts';
import { brandContext, type BrandContext } from './branding.ts';
import { sampleEvent } from './builtins.ts';
import { oneLine, templateContext, type TemplateUser } from './content.ts';
import { INBOX_BODY_MAX, INBOX_TITLE_MAX, safeLink } from './defaultContent.ts';
import { compileField, TemplateError, TemplateTooExpensiveError, type RenderFn } from './handlebars.ts';
import { withRenderBudget } from './renderBudget.ts';

/** A rule's content fields, compiled; a field the rule leaves out is null (the default text stands in for it). */
export type CompiledRuleContent = { title: RenderFn | null; body: RenderFn | null; url: RenderFn | null };

export type RenderedRuleContent = { title: string | null; body: string | null; url: string | null };

const FIELDS = ['title', 'body', 'url'] as const;

/**
 * Compiles a rule's content as templates are compiled (the same sandbox and render budget; a
 * syntax error names its field and line, a budget failure is a TemplateTooExpensiveError).
 * `prefix` names the fields in errors (`content.title`).
 */
export function compileRuleContent(content: RuleContent, prefix = 'content'): CompiledRuleContent {
  const compile = (field: (typeof FIELDS)[number]) => {
    const source = content[field];
    return source === undefined || source === '' ? null : compileField(`${prefix}.${field}`, source, false);
  };
  return { title: compile('title'), body: compile('body'), url: compile('url') };
}

const compiled = new Map<string, CompiledRuleContent>();
const MAX_COMPILED = 5_000;

/** The compiled form of a rule's content, kept by its source (a rule edited gets compiled again). */
export function compiledRuleContent(content: RuleContent): CompiledRuleContent {
  const key = JSON.stringify([content.title ?? '', content.body ?? '', content.url ?? '']);
  let found = compiled.get(key);
  if (!found) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    found = compileRuleContent(content);
    compiled.set(key, found);
  }
  return found;
}

/**
 * A rule's content for an event, within one render budget (SPEC §7.1). Titles are one line, a
 * url only counts when it is http(s), and every field is cut to the inbox's limits.
 */
export function renderRuleContent(content: CompiledRuleContent, event: EventEnvelope, user: TemplateUser | null, brand: BrandContext): RenderedRuleContent {
  const context = templateContext(event, user, brand);
  return withRenderBudget(() => ({
    title: content.title ? oneLine(content.title(context)).slice(0, INBOX_TITLE_MAX) || null : null,
    body: content.body ? content.body(context).trim().slice(0, INBOX_BODY_MAX) : null,
    url: content.url ? safeLink(oneLine(content.url(context))) : null,
  }));
}

/** A field of a rule's content that cannot be saved, and where. */
export type RuleContentProblem = { field: string; message: string; line?: number; column?: number };

/**
 * Whether a rule's content can be saved (SPEC §3.1, §7.1): every field compiles (a syntax error
 * names its field and line), and a trial render with sample data of the event type stays within
 * the render budget. Domain answer; the API turns it into 400 or 422 template_too_expensive.
 */
export function checkRuleContent(content: RuleContent, eventType: string): { problems: RuleContentProblem[]; tooExpensive: boolean } {
  try {
    const compiledContent = compileRuleContent(content);
    const sample = sampleEvent(eventType);
    renderRuleContent(compiledContent, sample, null, brandContext(null, {}).brand);
    return { problems: [], tooExpensive: false };
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const problem = { field: err.field, message: err.reason, ...(err.line !== null && { line: err.line }), ...(err.column !== null && { column: err.column }) };
    return { problems: [problem], tooExpensive: err instanceof TemplateTooExpensiveError };
  }
}
