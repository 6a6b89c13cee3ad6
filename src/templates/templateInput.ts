import { z } from 'zod';
import { badRequest, HttpError } from '../errors.ts';
import { eventEnvelopeSchema } from '../intake/eventEnvelope.ts';
import { CHANNELS } from '../routing/channels.ts';
import type { FieldProblem } from '../validation.ts';
import { brandContext } from './branding.ts';
import { sampleData } from './builtins.ts';
import {
  compileTemplate,
  contentKindOf,
  FIELDS_OF,
  renderTemplate,
  templateContext,
  type CompiledTemplate,
  type ContentKind,
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

/** A template problem as a 400's detail: the field, and where a syntax error sits in it. */
export type TemplateProblem = FieldProblem & { line?: number; column?: number };

/** The kind of content a channel's template holds, or a 400 naming the field when the channel has none. */
export function kindOrThrow(channel: string, field = 'channel'): ContentKind {
  const kind = contentKindOf(channel);
  if (!kind) throw badRequest(`${field}: ${channel} payloads are fixed and not templated`, [{ field, message: `${channel} payloads are fixed and not templated` }]);
  return kind;
}

/**
 * Checks template fields before anything is stored or previewed and returns them compiled:
 * fields of the other kind are refused, the required ones must be there, every field must
 * compile (a syntax error answers 400 with its line), and a trial render with the event type's
 * sample data must pass (a missing partial only shows when rendering; SPEC §7.1: so does a
 * template past the render budget, which answers 422 template_too_expensive).
 */
export function compileOrThrow(kind: ContentKind, fields: TemplateFields, eventType: string, prefix: string[] = []): CompiledTemplate {
  const name = (field: string) => [...prefix, field].join('.');
  const problems: TemplateProblem[] = [];
  for (const field of ['subject', 'html', 'text', 'title', 'body'] as const) {
    if (fields[field] != null && !FIELDS_OF[kind].includes(field)) problems.push({ field: name(field), message: `is not a field of ${kind} templates (they use ${FIELDS_OF[kind].join(', ')})` });
  }
  for (const field of REQUIRED[kind]) {
    if (!fields[field]?.trim()) problems.push({ field: name(field), message: `is required for ${kind} templates` });
  }
  if (problems.length > 0) throw badRequest(problemText(problems), problems);
  const compiled = throwingHttpError(() => compileTemplate(kind, fields), prefix);
  renderOrThrow(compiled, previewContext('preview', eventType, null), prefix);
  return compiled;
}

export function templateProblem(err: TemplateError, prefix: string[] = []): TemplateProblem {
  return {
    field: [...prefix, err.field].join('.'),
    message: err.reason,
    ...(err.line !== null && { line: err.line }),
    ...(err.column !== null && { column: err.column }),
  };
}

const problemText = (problems: TemplateProblem[]) => problems.map((p) => `${p.field}: ${p.line ? `line ${p.line}: ` : ''}${p.message}`).join('; ');

/** Runs `work`, turning a template's error into the answer naming its field: 422 template_too_expensive past the budget, else 400. */
function throwingHttpError<T>(work: () => T, prefix: string[]): T {
  try {
    return work();
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const problems = [templateProblem(err, prefix)];
    if (err instanceof TemplateTooExpensiveError) throw new HttpError(422, 'template_too_expensive', problemText(problems), problems);
    throw badRequest(problemText(problems), problems);
  }
}

/** Renders, turning a template's runtime error into a 400 (or a 422 past the render budget) that names the field. */
export function renderOrThrow(template: CompiledTemplate, context: ReturnType<typeof previewContext>, prefix: string[] = []) {
  return throwingHttpError(() => renderTemplate(template, context), prefix);
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
    {
      id: eventId,
      type: eventType,
      tenantId: options.tenantId ?? 'preview',
      severity: 'high',
      actorId: null,
      occurredAt: new Date().toISOString(),
      assigneeUserIds: [],
      assigneeTeamIds: [],
      recipientUserIds: [],
      approval: null,
      data: data ?? sampleData(eventType),
    },
    options.user ?? { id: 'preview-user', name: 'Alex Example', email: 'alex@example.com' },
    options.brand ?? brandContext(null, {}).brand,
  );
}
