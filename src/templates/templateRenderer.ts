import type { RedisClient } from '../redis.ts';
import type { Db } from '../db/client.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Logger } from '../logger.ts';
import { brandContext, loadBrand, type LoadedBrand } from './branding.ts';
import { builtinDigestEmailTemplate, builtinEmailTemplate, isBuiltinEmailTemplate } from './builtins.ts';
import {
  builtinMessageTemplate,
  compileTemplate,
  contentKindOf,
  renderTemplate,
  templateContext,
  type CompiledTemplate,
  type DigestContext,
  type EmailContent,
  type MessageContent,
  type TemplateUser,
} from './content.ts';
import { findActiveTemplate } from './templateStore.ts';

/** Where rendering gets a template and a brand from: the database directly, or through a cache. */
export type TemplateSource = {
  template(tenantId: string | null, eventType: string, channel: string): Promise<CompiledTemplate>;
  brand(tenantId: string | null): Promise<LoadedBrand>;
};

/**
 * The template that applies (SPEC §7): the tenant's override, else the global default, else
 * Herald's built-in one for the event type.
 */
export async function loadTemplate(db: Db, tenantId: string | null, eventType: string, channel: string): Promise<CompiledTemplate> {
  const kind = contentKindOf(channel);
  if (!kind) throw new Error(`the ${channel} channel is not templated`);
  const stored = await findActiveTemplate(db, tenantId, eventType, channel);
  if (stored) return compileTemplate(kind, stored);
  return kind === 'email' ? builtinEmailTemplate(eventType) : builtinMessageTemplate;
}

/** Reads every time: for rare callers (previews, a test-send) and callers without a cache of their own. */
export function directSource(db: Db): TemplateSource {
  return { template: (tenantId, eventType, channel) => loadTemplate(db, tenantId, eventType, channel), brand: (tenantId) => loadBrand(db, tenantId) };
}

export type RenderedFor<C> = { content: C; replyTo: string | null };

/**
 * An email for an event; a digest's (SPEC §4.1) is for its first event, with `digest.*` in the
 * context. A stored template renders a digest itself; without one, a digest of several events
 * takes the built-in digest email, which lists them.
 */
export async function renderEmail(source: TemplateSource, event: EventEnvelope, user: TemplateUser | null, digest?: DigestContext | null): Promise<RenderedFor<EmailContent>> {
  return render(source, event, 'email', user, digest) as Promise<RenderedFor<EmailContent>>;
}

export async function renderMessage(source: TemplateSource, event: EventEnvelope, channel: string, user: TemplateUser | null): Promise<RenderedFor<MessageContent>> {
  return render(source, event, channel, user) as Promise<RenderedFor<MessageContent>>;
}

async function render(source: TemplateSource, event: EventEnvelope, channel: string, user: TemplateUser | null, digest?: DigestContext | null) {
  const stored = await source.template(event.tenantId, event.type, channel);
  const template = digest && digest.count > 1 && isBuiltinEmailTemplate(stored) ? builtinDigestEmailTemplate() : stored;
  // The built-in short message shows no brand: skip the read (it is not free for an uncached source).
  const loaded = template === builtinMessageTemplate ? brandContext(null, {}) : await source.brand(event.tenantId);
  return { content: renderTemplate(template, templateContext(event, user, loaded.brand, digest)), replyTo: loaded.replyTo };
}

export const templatesChangedChannel = (prefix: string) => `${prefix}:templates:changed`;

export type TemplatesChange = { kind: 'template' | 'branding'; tenantId: string | null };

/**
 * Tells every instance (API and workers) to drop what it has cached; call after the change is
 * committed. Never throws: the change stands either way, and an instance that misses the
 * message drops its cache when the entries expire.
 */
export function createChangeAnnouncer(redis: RedisClient, prefix: string, logger: Logger): (change: TemplatesChange) => Promise<void> {
  return async (change) => {
    try {
      await redis.publish(templatesChangedChannel(prefix), JSON.stringify(change));
    } catch (err) {
      logger.warn({ err, ...change }, 'could not announce a template change');
    }
  };
}

export type CachedTemplateSource = TemplateSource & { invalidate(): void; close(): Promise<void> };

// A missed invalidation (the subscriber was reconnecting) heals within this long.
const DEFAULT_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Compiled templates and brands kept in memory, dropped whenever any instance announces a change
 * on `<prefix>:templates:changed`. Changes are rare, so everything is dropped rather than worked
 * out what each change touches. The subscription is live when this resolves, so a change
 * announced afterwards is never missed.
 */
export async function createCachedTemplateSource(options: {
  db: Db;
  subscriber: RedisClient;
  prefix: string;
  logger: Logger;
  ttlMs?: number;
}): Promise<CachedTemplateSource> {
  const { db, subscriber, logger } = options;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const channel = templatesChangedChannel(options.prefix);
  const templates = new Map<string, { value: Promise<CompiledTemplate>; expiresAt: number }>();
  const brands = new Map<string, { value: Promise<LoadedBrand>; expiresAt: number }>();

  // The promise is cached, so concurrent jobs for one tenant load once; a failed load is not kept.
  function cached<T>(map: Map<string, { value: Promise<T>; expiresAt: number }>, key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = map.get(key);
    if (hit && hit.expiresAt > now) return hit.value;
    if (map.size >= MAX_ENTRIES) map.clear();
    const value = load();
    map.set(key, { value, expiresAt: now + ttlMs });
    value.catch(() => {
      if (map.get(key)?.value === value) map.delete(key);
    });
    return value;
  }

  function invalidate(): void {
    templates.clear();
    brands.clear();
  }

  const onMessage = (from: string, message: string) => {
    if (from !== channel) return;
    logger.debug({ change: message }, 'templates changed; cache dropped');
    invalidate();
  };
  // Messages published while the connection was down are lost; start clean after a reconnect.
  const onReady = () => invalidate();
  subscriber.on('message', onMessage);
  subscriber.on('ready', onReady);
  await subscriber.subscribe(channel);

  return {
    template: (tenantId, eventType, ch) =>
      cached(templates, `${tenantId ?? ''}\u0000${eventType}\u0000${ch}`, () => loadTemplate(db, tenantId, eventType, ch)),
    brand: (tenantId) => cached(brands, tenantId ?? '', () => loadBrand(db, tenantId)),
    invalidate,
    async close() {
      subscriber.off('message', onMessage);
      subscriber.off('ready', onReady);
      await subscriber.unsubscribe(channel).catch(() => {});
    },
  };
}
