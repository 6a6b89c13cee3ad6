import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import type { Channel } from '../routing/channels.ts';
import type { PlannedDigest } from '../routing/planDeliveries.ts';
import type { Priority } from '../routing/priority.ts';

/** A planned delivery that a digest gathers, as routing records it. */
export type DigestMember = {
  tenantId: string;
  eventId: string;
  channel: Exclude<Channel, 'inapp' | 'webhook'>;
  destination: string;
  userId: string | null;
  ruleId: string | null;
  priority: Priority;
  digest: PlannedDigest;
};

/** A digest's message to wake: its carrier delivery, due at `notBefore` (now for a digest that filled up). */
export type DigestWake = { id: string; tenantId: string; eventId: string; channel: Exclude<Channel, 'inapp' | 'webhook'>; priority: Priority; notBefore: Date };

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
type OpenDigest = { id: string; count: number; max_items: number; closes_at: Date; carrier_id: string };

const windowKey = (m: DigestMember) => JSON.stringify([m.digest.ruleId, m.channel, m.destination, m.digest.keyValue]);

/**
 * Records digested deliveries and puts each in its window (SPEC §4.1), in one transaction: a
 * delivery is never stored without its digest. Per (rule, channel, destination, key value) at
 * most one window is open; the first member of a new window carries its message. The open
 * window's row is locked while members join, so events that arrive together — in one group or
 * in several routers at once — join one window, and a window at `maxItems` closes and lets the
 * next member open another. A window whose time is up takes no one: its sender may be reading
 * its members already. Deliveries recorded before (a re-run of routing) are left as they are.
 *
 * Returns the messages to wake: new windows' carriers at their closing time, and carriers of
 * windows that filled up, at once.
 */
export async function joinDigests(db: Db, members: DigestMember[]): Promise<DigestWake[]> {
  if (members.length === 0) return [];
  return db.transaction(async (tx) => {
    const inserted = await tx.execute<{ id: string; tenant_id: string; event_id: string; channel: string; destination: string }>(sql`
      insert into deliveries (event_id, tenant_id, channel, destination, user_id, rule_id, state, priority)
      select r.event_id, r.tenant_id, r.channel, r.destination, r.user_id, r.rule_id, 'scheduled', r.priority
      from jsonb_to_recordset(${JSON.stringify(members.map((m) => ({ event_id: m.eventId, tenant_id: m.tenantId, channel: m.channel, destination: m.destination, user_id: m.userId, rule_id: m.ruleId, priority: m.priority })))}::jsonb)
        as r(event_id text, tenant_id text, channel text, destination text, user_id text, rule_id uuid, priority text)
      on conflict (tenant_id, event_id, channel, destination) do nothing
      returning id, tenant_id, event_id, channel, destination`);
    const idOf = new Map(inserted.map((row) => [JSON.stringify([row.tenant_id, row.event_id, row.channel, row.destination]), row.id]));
    const windows = new Map<string, (DigestMember & { id: string })[]>();
    for (const member of members) {
      const id = idOf.get(JSON.stringify([member.tenantId, member.eventId, member.channel, member.destination]));
      if (!id) continue;
      const key = windowKey(member);
      windows.set(key, [...(windows.get(key) ?? []), { ...member, id }]);
    }
    const wakes: DigestWake[] = [];
    // Windows in one order in every router, so two transactions never wait on each other's locks.
    for (const key of [...windows.keys()].sort()) wakes.push(...(await fill(tx, windows.get(key)!)));
    return wakes;
  });
}

/** Puts one window key's new members, oldest first, into open windows, opening new ones as they fill. */
async function fill(tx: Tx, members: (DigestMember & { id: string })[]): Promise<DigestWake[]> {
  const wakes: DigestWake[] = [];
  const { digest, tenantId, channel, destination } = members[0]!;
  let rest = members;
  while (rest.length > 0) {
    const [open] = await tx.execute<OpenDigest>(sql`
      select id, count, max_items, closes_at, carrier_id from digests
      where rule_id = ${digest.ruleId} and channel = ${channel} and destination = ${destination} and key_value = ${digest.keyValue} and state = 'open'
      for update`);
    if (open && new Date(open.closes_at).getTime() <= Date.now()) {
      await tx.execute(sql`update digests set state = 'closed' where id = ${open.id}`);
      continue;
    }
    if (open) {
      const joining = rest.slice(0, Math.max(0, open.max_items - open.count));
      rest = rest.slice(joining.length);
      const full = open.count + joining.length >= open.max_items;
      const [window] = await tx.execute<{ closes_at: Date }>(sql`
        update digests set count = count + ${joining.length}, state = ${full ? 'closed' : 'open'}, closes_at = ${full ? sql`least(closes_at, now())` : sql`closes_at`}
        where id = ${open.id} returning closes_at`);
      await assign(tx, { id: open.id, carrierId: open.carrier_id }, joining.map((m) => m.id), true, window!.closes_at);
      if (full) {
        const carrier = await tx.execute<{ event_id: string; priority: Priority }>(sql`select event_id, priority from deliveries where id = ${open.carrier_id}`);
        wakes.push({ id: open.carrier_id, tenantId, eventId: carrier[0]!.event_id, channel, priority: carrier[0]!.priority, notBefore: new Date(window!.closes_at) });
      }
      continue;
    }
    const opening = rest.slice(0, digest.maxItems);
    const carrier = opening[0]!;
    const full = opening.length >= digest.maxItems;
    const [created] = await tx.execute<{ id: string; closes_at: Date }>(sql`
      insert into digests (tenant_id, rule_id, channel, destination, key_value, state, count, max_items, closes_at, carrier_id)
      values (${tenantId}, ${digest.ruleId}, ${channel}, ${destination}, ${digest.keyValue}, ${full ? 'closed' : 'open'}, ${opening.length}, ${digest.maxItems},
              ${full ? sql`now()` : sql`now() + make_interval(secs => ${digest.windowSeconds})`}, ${carrier.id})
      on conflict (rule_id, channel, destination, key_value) where state = 'open' do nothing
      returning id, closes_at`);
    // Another router opened this window first: join it instead.
    if (!created) continue;
    rest = rest.slice(opening.length);
    const window = { id: created.id, carrierId: carrier.id };
    await assign(tx, window, [carrier.id], false, created.closes_at);
    await assign(tx, window, opening.slice(1).map((m) => m.id), true, created.closes_at);
    wakes.push({ id: carrier.id, tenantId, eventId: carrier.eventId, channel, priority: carrier.priority, notBefore: new Date(created.closes_at) });
  }
  return wakes;
}

/** A digest window as its members are assigned to it: its id and the delivery that carries its message. */
type DigestWindow = { id: string; carrierId: string };

/**
 * Makes deliveries members of a digest: the carrier itself (`carried`: false) or deliveries it
 * carries; every delivery of the digest is due when the window closes (sooner, when it filled up).
 */
async function assign(tx: Tx, window: DigestWindow, deliveryIds: string[], carried: boolean, closesAt: Date): Promise<void> {
  if (deliveryIds.length === 0) return;
  await tx.execute(sql`update deliveries set digest_id = ${window.id}, carried_by = ${carried ? window.carrierId : null} where id = any(${sql.param(deliveryIds)}::uuid[])`);
  await tx.execute(digestDueStatement(window, closesAt));
}

/**
 * Moves every delivery of a digest to the window's closing time. They are the carrier and the
 * deliveries it carries, found by key and by the carried_by index: deliveries has no index on
 * digest_id, so asking for `digest_id` alone read the whole table in the routing transaction,
 * with the window's row locked, at every join.
 */
export function digestDueStatement(window: DigestWindow, closesAt: Date): SQL {
  const due = new Date(closesAt).toISOString();
  return sql`
    update deliveries set not_before = ${due}::timestamptz
    where (id = ${window.carrierId}::uuid or carried_by = ${window.carrierId}::uuid) and digest_id = ${window.id}::uuid
      and not_before is distinct from ${due}::timestamptz`;
}
