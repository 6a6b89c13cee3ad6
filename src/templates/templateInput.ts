import { z } from 'zod';
import { eventEnvelopeSchema } from '../intake/eventEnvelope.ts';
import { CHANNELS } from '../routing/channels.ts';
import type { FieldProblem } from '../validation.ts';
import { brandContext } from './branding.ts';
import { sampleEvent } from './builtins.ts';
import {
  compileTemplate,
  contentKindOf,
  FIELDS_OF,
  renderTemplate,
  templateContext,
  type CompiledTemplate,
  type ContentKind,
  type RenderedContent,
  type TemplateField,
  type TemplateFields,
} from './content.ts';
import { TemplateError, TemplateTooExpensiveError } from './handlebars.ts';

/** The text fields of a template as the API takes them (SPEC §7). */
export const templateFieldsSchema = z.object({
  subject: z.string().max(1_000).nullish(),
  html: z.string().max(100_000).nullish(),
  text: z.string().max(50_000).nullish(),
  title: z.string().max(1_000).nullish(),
  body: z.string().max(10_000).nullish(),
});

export const eventTypeSchema = eventEnvelopeSchema.shape.type;
export const channelSchema = z.enum(CHANNELS);

const REQUIRED: Record<ContentKind, TemplateField[]> = { email: ['subject', 'html'], message: ['title'] };

/** A template problem: the field, and where a syntax error sits in it. */
export type TemplateProblem = FieldProblem & { line?: number; column?: number };

/**
 * The verdict on template input: its value, or the problems that refuse it — `tooExpensive`
 * when it went past the render budget (SPEC §7.1), else it is malformed.
 */
export type TemplateCheck<T> = { ok: true; value: T } | { ok: false; problems: TemplateProblem[]; tooExpensive: boolean };

const refused = (problems: TemplateProblem[], tooExpensive = false): TemplateCheck<never> => ({ ok: false, problems, tooExpensive });

/** The kind of content a channel's template holds; refused, naming the field, for a channel that has none. */
export function checkTemplateKind(channel: string, field = 'channel'): TemplateCheck<ContentKind> {
  const kind = contentKindOf(channel);
  return kind ? { ok: true, value: kind } : refused([{ field, message: `${channel} payloads are fixed and not templated` }]);
}

/**
 * Checks template fields before anything is stored or previewed and returns them compiled:
 * fields of the other kind are refused, the required ones must be there, every field must
 * compile (a syntax error names its line), and a trial render with the event type's sample
 * data must pass (a missing partial only shows when rendering; so does a template past the
 * render budget).
 */
export function checkTemplate(kind: ContentKind, fields: TemplateFields, eventType: string, prefix: string[] = []): TemplateCheck<CompiledTemplate> {
  const name = (field: string) => [...prefix, field].join('.');
  const problems: TemplateProblem[] = [];
  for (const field of ['subject', 'html', 'text', 'title', 'body'] as const) {
    if (fields[field] != null && !FIELDS_OF[kind].includes(field)) problems.push({ field: name(field), message: `is not a field of ${kind} templates (they use ${FIELDS_OF[kind].join(', ')})` });
  }
  for (const field of REQUIRED[kind]) {
    if (!fields[field]?.trim()) problems.push({ field: name(field), message: `is required for ${kind} templates` });
  }
  if (problems.length > 0) return refused(problems);
  const compiled = checked(() => compileTemplate(kind, fields), prefix);
  if (!compiled.ok) return compiled;
  const trial = checkRender(compiled.value, previewContext('preview', eventType, null), prefix);
  return trial.ok ? compiled : trial;
}

/** Renders, turning a template's runtime error (past the render budget too) into problems naming the field. */
export function checkRender(template: CompiledTemplate, context: ReturnType<typeof previewContext>, prefix: string[] = []): TemplateCheck<RenderedContent> {
  return checked(() => renderTemplate(template, context), prefix);
}

export function templateProblem(err: TemplateError, prefix: string[] = []): TemplateProblem {
  return {
    field: [...prefix, err.field].join('.'),
    message: err.reason,
    ...(err.line !== null && { line: err.line }),
    ...(err.column !== null && { column: err.column }),
  };
}

/** The problems as one line: `html: line 3: …; subject: is required …`. */
export const describeTemplateProblems = (problems: TemplateProblem[]) =>
  problems.map((p) => `${p.field}: ${p.line ? `line ${p.line}: ` : ''}${p.message}`).join('; ');

/** Runs `work`, turning a template's error into the problem naming its field. */
function checked<T>(work: () => T, prefix: string[]): TemplateCheck<T> {
  try {
    return { ok: true, value: work() };
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    return refused([templateProblem(err, prefix)], err instanceof TemplateTooExpensiveError);
  }
}

/**
 * What a preview or test-send renders with: a sample event of the type (with the caller's data
 * or sample data), a sample recipient, and the given brand.
 */
export function previewContext(
  eventId: string,
  eventType: string,
  data: Record<string, unknown> | null,
  options: { tenantId?: string | null; brand?: ReturnType<typeof brandContext>['brand']; user?: { id: string | null; name: string | null; email: string | null } } = {},
) {
  return templateContext(
    sampleEvent(eventType, { id: eventId, tenantId: options.tenantId, data }),
    options.user ?? { id: 'preview-user', name: 'Alex Example', email: 'alex@example.com' },
    options.brand ?? brandContext(null, {}).brand,
  );
}
