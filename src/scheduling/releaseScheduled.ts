import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { deliveries } from '../db/schema.ts';
import { eventTemplateView, type DigestContext } from '../templates/content.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { Channel } from '../routing/channels.ts';
import { quietHoursEnd } from './quietHours.ts';
import { waitsOutQuietHours } from './timing.ts';

type DeliveryRow = typeof deliveries.$inferSelect;

/** What to do with a scheduled delivery whose job has woken up. */
export type Release =
  /** Not yet: its time (or the person's quiet hours) has not passed; the job waits until `until`. */
  | { kind: 'wait'; until: Date }
  /** A fallback no longer needed: recorded as `skipped` with the reason. */
  | { kind: 'skipped'; reason: string }
  /** Due: now `pending`, to be sent like any other delivery. */
  | { kind: 'send' };

/** A job woken this close to its time is on time (timers fire a little early or late). */
const ON_TIME_MS = 250;

/**
 * Decides a scheduled delivery's fate when its job wakes (SPEC §4.1), in the order that makes
 * each step safe to repeat: a job that fires early waits again; a message to a person that
 * falls in their quiet hours (a fallback's or a digest's time may) waits to their end; a
 * fallback whose notification was seen (read) is skipped; a digest's window is closed, so no
 * event joins it once its members are read for the message. Then the delivery becomes
 * `pending`. Every change is guarded by the state it expects, so a re-run after a crash — or
 * a second job for the same delivery — changes nothing twice.
 */
export async function releaseScheduled(db: Db, delivery: DeliveryRow, now = new Date()): Promise<Release> {
  if (delivery.notBefore && delivery.notBefore.getTime() > now.getTime() + ON_TIME_MS) return { kind: 'wait', until: delivery.notBefore };

  const quietEnd = await quietHoursEndFor(db, delivery, now);
  if (quietEnd) {
    // A digest's members wait with their carrier, so the timeline shows one time for them all.
    await db.execute(sql`
      update deliveries set not_before = ${quietEnd.toISOString()}::timestamptz, updated_at = now()
      where state = 'scheduled' and (id = ${delivery.id} or carried_by = ${delivery.id})`);
    return { kind: 'wait', until: quietEnd };
  }

  const skipReason = await fallbackNotNeeded(db, delivery);
  if (skipReason) {
    await db.execute(sql`update deliveries set state = 'skipped', last_error = ${skipReason}, updated_at = now() where id = ${delivery.id} and state = 'scheduled'`);
    return { kind: 'skipped', reason: skipReason };
  }

  if (delivery.digestId && !delivery.carriedBy) {
    // Takes the window's row lock: a router adding a member right now commits first, and is read below.
    await db.execute(sql`update digests set state = 'closed', closes_at = least(closes_at, now()) where id = ${delivery.digestId} and state = 'open'`);
  }
  await db.execute(sql`update deliveries set state = 'pending', updated_at = now() where id = ${delivery.id} and state = 'scheduled'`);
  return { kind: 'send' };
}

/** When a person's message falls in their quiet hours now, their end; urgent messages and in-app, team and webhook ones are never held. */
async function quietHoursEndFor(db: Db, delivery: DeliveryRow, now: Date): Promise<Date | null> {
  if (delivery.priority === 'urgent' || !waitsOutQuietHours({ channel: delivery.channel as Channel, userId: delivery.userId, teamId: delivery.teamId })) return null;
  const [person] = await db.execute<{ timezone: string; quiet_hours: { start: string; end: string } | null }>(
    sql`select timezone, quiet_hours from users where id = ${delivery.userId}`,
  );
  if (!person?.quiet_hours) return null;
  return quietHoursEnd(now, person.timezone, person.quiet_hours);
}

/** Why a fallback is not sent: its person saw (or read) the in-app notification in time. Null: send it. */
async function fallbackNotNeeded(db: Db, delivery: DeliveryRow): Promise<string | null> {
  const unless = delivery.fallbackUnless;
  if (unless !== 'seen' && unless !== 'read') return null;
  const [row] = await db.execute<{ seen_at: string | null; read_at: string | null }>(sql`
    select seen_at::text, read_at::text from notifications
    where tenant_id = ${delivery.tenantId} and event_id = ${delivery.eventId} and user_id = ${delivery.userId}`);
  // No row yet (a large fan-out still being written): nobody has seen it, so the fallback goes.
  if (!row) return null;
  if (unless === 'read') return row.read_at ? `the in-app notification was read at ${isoOf(row.read_at)}` : null;
  return row.seen_at ? `the in-app notification was seen at ${isoOf(row.seen_at)}` : null;
}

const isoOf = (timestamp: string) => new Date(timestamp).toISOString();

/** At most this many of a digest's events are handed to its template (SPEC §4.1 caps a window at 1,000). */
const DIGEST_EVENTS_MAX = 1_000;

/**
 * What a digest's message shows (SPEC §4.1): how many events its window gathered and each
 * event with its data, oldest first — the carrier's own and those it carries. The window is
 * closed before this is read (releaseScheduled), so the members do not change between tries.
 */
export async function loadDigest(db: Db, carrier: DeliveryRow): Promise<DigestContext | null> {
  if (!carrier.digestId || carrier.carriedBy) return null;
  const rows = await db.execute<{ envelope: EventEnvelope }>(sql`
    select e.envelope from deliveries d
    join events e on e.tenant_id = d.tenant_id and e.id = d.event_id
    where d.digest_id = ${carrier.digestId} and (d.id = ${carrier.id} or d.carried_by = ${carrier.id})
    order by e.accepted_at, e.occurred_at, e.id
    limit ${DIGEST_EVENTS_MAX}`);
  return { count: rows.length, events: rows.map(({ envelope }) => ({ event: eventTemplateView(envelope), data: envelope.data })) };
}
