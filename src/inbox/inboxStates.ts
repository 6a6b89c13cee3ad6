import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { applyCountDeltas, countsByUser, type CountRow, type InboxCounts } from './inboxCounts.ts';
import type { InboxOwner } from './inboxStore.ts';

/** What a change of state did: the rows it changed, by tenant, and the owner's new counts. */
export type StateChange = {
  /** Ids of the notifications that changed, by tenant (a stream announces only its own tenants'). */
  idsByTenant: Record<string, string[]>;
  updated: number;
  counts: InboxCounts;
};

/** Which of the owner's notifications a change applies to: some ids, all of them, or all read ones (within its condition). */
export type Selection = { ids: bigint[] } | 'all' | 'all read';

/**
 * One change of state as SPEC §5.1 defines it: which rows it takes (`condition`, on the row as
 * it is), what it sets, and how it moves the counts, given the row before the change (`old`).
 * Archived rows are in no count, so a change to one moves none.
 */
type StateTransition = { condition: SQL; set: SQL; unreadDelta: SQL; unseenDelta: SQL };

const TRANSITIONS = {
  seen: {
    condition: sql`n.seen_at is null`,
    set: sql`seen_at = now()`,
    unreadDelta: sql`0`,
    unseenDelta: sql`case when old.archived_at is null then -1 else 0 end`,
  },
  // Reading marks seen too.
  read: {
    condition: sql`n.read_at is null`,
    set: sql`read_at = now(), seen_at = coalesce(n.seen_at, now())`,
    unreadDelta: sql`case when old.archived_at is null then -1 else 0 end`,
    unseenDelta: sql`case when old.archived_at is null and old.seen_at is null then -1 else 0 end`,
  },
  archive: {
    condition: sql`n.archived_at is null`,
    set: sql`archived_at = now()`,
    unreadDelta: sql`case when old.read_at is null then -1 else 0 end`,
    unseenDelta: sql`case when old.seen_at is null then -1 else 0 end`,
  },
} satisfies Record<string, StateTransition>;

export type Transition = keyof typeof TRANSITIONS;

/**
 * Applies a transition to the owner's selected notifications and their counts in one statement.
 * The rows are locked first (in id order) and read as they are then, so the counts move by what
 * really changed even when two requests race on the same rows; see applyCountDeltas for why
 * this cannot deadlock with the writers.
 */
export async function changeState(db: Pick<Db, 'execute'>, owner: InboxOwner, transition: Transition, selection: Selection): Promise<StateChange> {
  const { condition, set, unreadDelta, unseenDelta } = TRANSITIONS[transition];
  const [row] = await db.execute<{ changed: { id: string; tenant_id: string }[]; counts: CountRow[] }>(sql`
    with old as (
      select n.id, n.user_id, n.tenant_id, n.seen_at, n.read_at, n.archived_at from notifications n
      where n.user_id = ${owner.userId} and n.tenant_id = any(${sql.param(owner.tenantIds)}::text[])
        and ${condition}
        ${selected(selection)}
      order by n.id
      for update
    ),
    changed as (
      update notifications n set ${set}
      from old where n.id = old.id
      returning n.id, n.user_id, n.tenant_id, ${unreadDelta} as unread_delta, ${unseenDelta} as unseen_delta
    ),
    counted as (${applyCountDeltas(sql`select user_id, tenant_id, unread_delta, unseen_delta from changed`)})
    select (select coalesce(json_agg(json_build_object('id', id::text, 'tenant_id', tenant_id) order by id), '[]') from changed) as changed,
           (select coalesce(json_agg(counted), '[]') from counted) as counts
  `);
  const idsByTenant: Record<string, string[]> = {};
  for (const { id, tenant_id: tenantId } of row!.changed) (idsByTenant[tenantId] ??= []).push(id);
  return { idsByTenant, updated: row!.changed.length, counts: countsByUser(row!.counts).get(owner.userId) ?? {} };
}

function selected(selection: Selection): SQL {
  if (selection === 'all') return sql``;
  if (selection === 'all read') return sql`and n.read_at is not null`;
  return sql`and n.id = any(${sql.param(selection.ids.map(String))}::bigint[])`;
}

/** Whether the notification is the owner's at all (for a 404 when a single-row change did nothing). */
export async function ownsNotification(db: Pick<Db, 'execute'>, owner: InboxOwner, id: bigint): Promise<boolean> {
  const rows = await db.execute(sql`
    select 1 from notifications where id = ${id} and user_id = ${owner.userId} and tenant_id = any(${sql.param(owner.tenantIds)}::text[])`);
  return rows.length > 0;
}
