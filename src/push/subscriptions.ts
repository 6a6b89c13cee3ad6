import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { pushSubscriptions } from '../db/schema.ts';

/** One browser or device that can receive Web Push for a user. */
export type PushSubscriptionRow = typeof pushSubscriptions.$inferSelect;

/** What is kept of a browser's PushSubscription: where to send, and the keys to encrypt for it. */
export type PushSubscriptionInput = { endpoint: string; keys: { p256dh: string; auth: string } };

/**
 * Stores a subscription for `userId`. The endpoint identifies one browser profile, and a browser
 * belongs to whoever subscribed in it last: a row for the same endpoint under another user is
 * taken over, or that user would keep getting pushes on a machine they signed out of.
 * Returns whether the subscription is new for this user.
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

/** Every device the user has subscribed, oldest first. */
export async function subscriptionsOf(db: Db, userId: string): Promise<PushSubscriptionRow[]> {
  return db.select().from(pushSubscriptions).where(eq(pushSubscriptions.userId, userId)).orderBy(asc(pushSubscriptions.createdAt));
}
