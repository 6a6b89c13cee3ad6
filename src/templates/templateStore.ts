import { and, asc, desc, eq, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { templates, templateVersions } from '../db/schema.ts';
import { isUniqueViolation } from '../errors.ts';
import type { TemplateFields } from './content.ts';

export type TemplateSlot = { tenantId: string | null; eventType: string; channel: string };

/** A template slot with one of its versions, as the API shows it. */
export type StoredTemplate = TemplateSlot & {
  id: string;
  version: number;
  active: boolean;
  subject: string | null;
  html: string | null;
  text: string | null;
  title: string | null;
  body: string | null;
  createdAt: Date;
  updatedAt: Date;
};

/** A second template for an occupied slot: the caller should add a version to the existing one. */
export class TemplateSlotTaken extends Error {
  constructor(readonly existingId: string) {
    super('a template for this tenant, event type and channel already exists');
  }
}

const versionColumns = {
  id: templates.id,
  tenantId: templates.tenantId,
  eventType: templates.eventType,
  channel: templates.channel,
  version: templateVersions.version,
  active: templateVersions.active,
  subject: templateVersions.subject,
  html: templateVersions.html,
  text: templateVersions.text,
  title: templateVersions.title,
  body: templateVersions.body,
  createdAt: templates.createdAt,
  updatedAt: templates.updatedAt,
};

const fieldValues = (fields: TemplateFields) => ({
  subject: fields.subject ?? null,
  html: fields.html ?? null,
  text: fields.text ?? null,
  title: fields.title ?? null,
  body: fields.body ?? null,
});

function activeVersions(db: Db) {
  return db
    .select(versionColumns)
    .from(templates)
    .innerJoin(templateVersions, and(eq(templateVersions.templateId, templates.id), eq(templateVersions.active, true)));
}

/** Creates a slot with version 1. Two concurrent creates race on the slot's unique key; the loser gets TemplateSlotTaken. */
export async function createTemplate(db: Db, slot: TemplateSlot, fields: TemplateFields): Promise<StoredTemplate> {
  try {
    const id = await db.transaction(async (tx) => {
      const [row] = await tx.insert(templates).values(slot).returning({ id: templates.id });
      await tx.insert(templateVersions).values({ templateId: row!.id, version: 1, active: true, ...fieldValues(fields) });
      return row!.id;
    });
    return (await getTemplate(db, id))!;
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const [existing] = await db.select({ id: templates.id }).from(templates).where(slotCondition(slot));
    throw new TemplateSlotTaken(existing?.id ?? '');
  }
}

/**
 * Adds a version and makes it the active one; earlier versions are kept, inactive. The slot row
 * is locked so two concurrent updates get consecutive numbers instead of colliding.
 */
export async function addTemplateVersion(db: Db, templateId: string, fields: TemplateFields): Promise<StoredTemplate | null> {
  const added = await db.transaction(async (tx) => {
    const [slot] = await tx.select({ id: templates.id }).from(templates).where(eq(templates.id, templateId)).for('update');
    if (!slot) return false;
    const [latest] = await tx
      .select({ version: sql<number>`coalesce(max(${templateVersions.version}), 0)::int` })
      .from(templateVersions)
      .where(eq(templateVersions.templateId, templateId));
    await tx.update(templateVersions).set({ active: false }).where(and(eq(templateVersions.templateId, templateId), eq(templateVersions.active, true)));
    await tx.insert(templateVersions).values({ templateId, version: (latest?.version ?? 0) + 1, active: true, ...fieldValues(fields) });
    await tx.update(templates).set({ updatedAt: sql`now()` }).where(eq(templates.id, templateId));
    return true;
  });
  return added ? getTemplate(db, templateId) : null;
}

/** A slot with its active version. */
export async function getTemplate(db: Db, id: string): Promise<StoredTemplate | null> {
  const [row] = await activeVersions(db).where(eq(templates.id, id));
  return row ?? null;
}

/** Every version of a slot, newest first. */
export async function listTemplateVersions(db: Db, id: string): Promise<StoredTemplate[]> {
  return db
    .select({ ...versionColumns, createdAt: templateVersions.createdAt, updatedAt: templateVersions.createdAt })
    .from(templates)
    .innerJoin(templateVersions, eq(templateVersions.templateId, templates.id))
    .where(eq(templates.id, id))
    .orderBy(desc(templateVersions.version));
}

export type TemplateListFilter = {
  /** Tenants whose templates to include; null: every tenant. The global defaults are always included. */
  tenantIds: string[] | null;
  eventType?: string | undefined;
  channel?: string | undefined;
  limit: number;
};

export async function listTemplates(db: Db, filter: TemplateListFilter): Promise<StoredTemplate[]> {
  const conditions: (SQL | undefined)[] = [
    filter.tenantIds === null ? undefined : or(isNull(templates.tenantId), sql`${templates.tenantId} = any(${sql.param(filter.tenantIds)}::text[])`),
    filter.eventType ? eq(templates.eventType, filter.eventType) : undefined,
    filter.channel ? eq(templates.channel, filter.channel) : undefined,
  ];
  return activeVersions(db)
    .where(and(...conditions))
    .orderBy(sql`${templates.tenantId} nulls first`, asc(templates.eventType), asc(templates.channel))
    .limit(filter.limit);
}

/** The template that applies to a tenant's event on a channel: its own override, else the global default, else none. */
export async function findActiveTemplate(db: Db, tenantId: string | null, eventType: string, channel: string): Promise<StoredTemplate | null> {
  const tenantMatch = tenantId === null ? isNull(templates.tenantId) : or(eq(templates.tenantId, tenantId), isNull(templates.tenantId));
  const [row] = await activeVersions(db)
    .where(and(eq(templates.eventType, eventType), eq(templates.channel, channel), tenantMatch))
    .orderBy(sql`${templates.tenantId} nulls last`)
    .limit(1);
  return row ?? null;
}

function slotCondition(slot: TemplateSlot): SQL | undefined {
  return and(
    slot.tenantId === null ? isNull(templates.tenantId) : eq(templates.tenantId, slot.tenantId),
    eq(templates.eventType, slot.eventType),
    eq(templates.channel, slot.channel),
  );
}
