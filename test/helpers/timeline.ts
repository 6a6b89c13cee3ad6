import type { Db } from '../../src/db/client.ts';
import type { DeliveryRow } from '../../src/deliveries/deliveryStore.ts';
import { eventTimeline } from '../../src/deliveries/timeline.ts';

/**
 * An event's deliveries as its timeline shows them (SPEC §7; a small fan-out's in-app delivery
 * is its inbox row, src/deliveries/timeline.ts), by channel, then destination.
 */
export async function timelineOf(db: Db, tenantId: string, eventId: string): Promise<DeliveryRow[]> {
  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return (await eventTimeline(db, tenantId, eventId)).sort((a, b) => byText(a.channel, b.channel) || byText(a.destination, b.destination));
}
