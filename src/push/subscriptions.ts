import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { pushSubscriptions } from '../db/schema.ts';

/** One browser or device that can receive Web Push for a user. */
export type PushSubscriptionRow = typeof pushSubscriptions.$inferSelect;

/** What is kept of a browser's PushSubscription: where to send, and the keys to encrypt for it. */
export type PushSubscriptionInput = { endpoint: string; keys: { p256dh: string; auth: string } };

/**
 * SPEC §7.1: every notification to a user is one POST per device, to hosts the user chose, so a
 * user's devices are bounded: the newest this many.
 */
export const MAX_PUSH_SUBSCRIPTIONS = 20;

/**
 * Stores a subscription for `userId`. The endpoint identifies one browser profile, and a browser
 * belongs to whoever subscribed in it last: a row for the same endpoint under another user is
 * taken over, or that user would keep getting pushes on a machine they signed out of. A user
 * past MAX_PUSH_SUBSCRIPTIONS loses their oldest. Returns whether the subscription is new for
 * this user.
 */
export async function saveSubscription(db: Db, userId: string, subscription: PushSubscriptionInput): Promise<{ created: boolean }> {
  const { endpoint, keys } = subscription;
  return db.transaction(async (tx) => {
    // The table is keyed by (user, endpoint), so two users subscribing the same endpoint at once
    // would both insert; serializing on the endpoint keeps it to one owner.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${endpoint}, 0))`);
    await tx.delete(pushSubscriptions).where(and(eq(pushSubscriptions.endpoint, endpoint), sql`${pushSubscriptions.userId} <> ${userId}`));
    const [row] = await tx
      .insert(pushSubscriptions)
      .values({ userId, endpoint, p256dh: keys.p256dh, auth: keys.auth })
      .onConflictDoUpdate({
        target: [pushSubscriptions.userId, pushSubscriptions.endpoint],
        set: { p256dh: keys.p256dh, auth: keys.auth },
      })
      .returning({ created: sql<boolean>`(xmax = 0)` });
    // Serialized per user, so two devices subscribing at once cannot both count 20 and keep 21.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`push-user:${userId}`}, 0))`);
    await tx.execute(sql`
      delete from push_subscriptions where user_id = ${userId} and endpoint not in (
        select endpoint from push_subscriptions where user_id = ${userId}
        order by created_at desc, endpoint = ${endpoint} desc limit ${MAX_PUSH_SUBSCRIPTIONS})`);
    return { created: row!.created };
  });
}

/** Removes one of the user's subscriptions; false when the user has no subscription with that endpoint. */
export async function removeSubscription(db: Db, userId: string, endpoint: string): Promise<boolean> {
  const removed = await db
    .delete(pushSubscriptions)
    .where(and(eq(pushSubscriptions.userId, userId), eq(pushSubscriptions.endpoint, endpoint)))
    .returning({ endpoint: pushSubscriptions.endpoint });
  return removed.length > 0;
}

/** The devices a push goes to, oldest first: the newest MAX_PUSH_SUBSCRIPTIONS, whatever rows older code left. */
export async function subscriptionsOf(db: Db, userId: string): Promise<PushSubscriptionRow[]> {
  const newest = await db
    .select()
    .from(pushSubscriptions)
    .where(eq(pushSubscriptions.userId, userId))
    .orderBy(desc(pushSubscriptions.createdAt))
    .limit(MAX_PUSH_SUBSCRIPTIONS);
  return newest.reverse();
}
