import { and, eq, gte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { deliveries, deliveryAttempts, events, rules, teams, users } from '../db/schema.ts';
import { rootCauseMessage } from '../errors.ts';
import { createGroupCommitter } from '../groupCommit.ts';
import type { EventEnvelope } from '../intake/eventEnvelope.ts';
import type { RuleContent } from '../routing/ruleSpec.ts';
import { loadDigest, releaseScheduled, type Release } from '../scheduling/releaseScheduled.ts';
import type { DigestContext } from '../templates/content.ts';

export type DeliveryRow = typeof deliveries.$inferSelect;
/** The rule a delivery came from: its webhook settings, and the content its messages take (SPEC §3.1). */
export type DeliveryRule = { id: string; webhookUrl: string | null; secret: string | null; content: RuleContent | null };
/** Where a team's or a person's Slack and Teams posts go. */
export type ChatUrls = { slackWebhookUrl: string | null; teamsWebhookUrl: string | null };
export type DeliveryRecipient = ChatUrls & { id: string; name: string; email: string };
/** A delivery with what sending it needs: its event, when that was accepted, the rule that made it (null for a user's own channel or a removed rule), and the person or team it is for. */
export type DeliveryContext = {
  delivery: DeliveryRow;
  event: EventEnvelope;
  acceptedAt: Date;
  rule: DeliveryRule | null;
  /**
   * The person the delivery is for, as their row reads at this try — so a name, address or chat
   * URL changed after routing applies to the next try. Null for a rule's own destination (no
   * user) or a user since removed.
   */
  recipient: DeliveryRecipient | null;
  /** The team the delivery is for (a team's chat post), as its row reads at this try; null for any other. */
  team: (ChatUrls & { id: string }) | null;
  /** The events a digest's message carries (SPEC §4.1), the delivery's own first; null for any other delivery. */
  digest?: DigestContext | null;
};

/** One try, as the attempt log keeps it. */
export type AttemptRecord = {
  deliveryId: string;
  attempt: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  /** `sent`/`delivered` for a success, `error` for a failure to retry, `failed` for a final one. */
  outcome: 'sent' | 'delivered' | 'error' | 'failed';
  /** The failure, or the far side's receipt of a success. */
  error: string | null;
};

/** Which channel a final failure belonged to, for the metrics. */
export type FailedDelivery = { channel: string };

/**
 * The delivery rows and their attempt log, as every channel worker reads and writes them. Loads
 * and successful outcomes are group-committed: a worker running 25 sends at once reads their
 * rows in one query and records their outcomes in one statement, instead of paying five round
 * trips for each send — the bookkeeping, not the far side, was what bounded throughput.
 * Failures stay one transaction each: they are rare, and the retry budget reads them back.
 */
export type DeliveryStore = {
  load(deliveryId: string): Promise<DeliveryContext | null>;
  /** Records a successful try and moves the delivery to its outcome's state. */
  recordSuccess(record: AttemptRecord): Promise<void>;
  /** Records a failed try; `final` fails the delivery for good. */
  recordFailure(record: AttemptRecord, final: boolean): Promise<void>;
  /** Tries recorded for the delivery since `since` (the start of the job's run). */
  triesSince(deliveryId: string, since: Date): Promise<number>;
  /** The job gave up: fails a delivery still pending, and the digest members it carries, keeping its last error. Returns what it failed. */
  markFailed(deliveryId: string, error: Error): Promise<FailedDelivery[]>;
  /** A scheduled delivery's job woke: wait, skip, or send it (see releaseScheduled). */
  release(delivery: DeliveryRow): Promise<Release>;
  /** What a digest's carrier carries; null for any other delivery. */
  digestOf(delivery: DeliveryRow): Promise<DigestContext | null>;
};

const MAX_BATCH = 500;
/**
 * How long a load or a record waits for others before its statement goes. Jobs reach a worker
 * one at a time, as the ones in hand finish, so a statement sent at once carried 1.6 loads or
 * 2.1 records on average and the email worker — bound by its one core — spent ~0.2 ms of it per
 * email on the client side of those statements. Two milliseconds, for a send that takes tens:
 * three alternating pairs of the email bench read 1.33–1.38 ms of the worker's CPU per email
 * against 1.55–1.61 and 0.56–0.57× the nodemailer loop against 0.48–0.51×; the webhook worker's
 * CPU fell 6% at the same rate. Five milliseconds cut the CPU further but held each webhook job
 * long enough to lower that rate (0.56–0.58× against 0.63–0.65×).
 */
const GROUP_LINGER_MS = 2;

/** The grouped load: the deliveries of the `ids` placeholder, with what sending each needs. */
export function loadDeliveriesQuery(db: Db) {
  return db
    // The id first: drizzle reads a left-joined object as absent when its first field is null.
    .select({
      delivery: deliveries,
      envelope: events.envelope,
      acceptedAt: events.acceptedAt,
      rule: { id: rules.id, webhookUrl: rules.webhookUrl, secret: rules.secret, content: rules.content },
      recipient: { id: users.id, name: users.name, email: users.email, slackWebhookUrl: users.slackWebhookUrl, teamsWebhookUrl: users.teamsWebhookUrl },
      team: { id: teams.id, slackWebhookUrl: teams.slackWebhookUrl, teamsWebhookUrl: teams.teamsWebhookUrl },
    })
    .from(deliveries)
    .innerJoin(events, and(eq(events.tenantId, deliveries.tenantId), eq(events.id, deliveries.eventId)))
    .leftJoin(rules, eq(rules.id, deliveries.ruleId))
    .leftJoin(users, eq(users.id, deliveries.userId))
    .leftJoin(teams, eq(teams.id, deliveries.teamId))
    .where(sql`${deliveries.id} = any(${sql.placeholder('ids')}::uuid[])`);
}

export function createDeliveryStore(db: Db): DeliveryStore {
  // Built once, not per batch: drizzle's query builder took ~0.2 ms of the worker's CPU each time.
  const loadQuery = loadDeliveriesQuery(db).prepare('load_deliveries');
  const loadBatch = createGroupCommitter<string, DeliveryContext | null>(async (ids) => {
    // The recipient and the team come with the rest, one statement for the batch: a lookup per
    // send cost the email and chat workers a statement per message next to their grouped loads
    // and records.
    const rows = await loadQuery.execute({ ids: [...new Set(ids)] });
    const byId = new Map(
      rows.map((row) => [
        row.delivery.id,
        { delivery: row.delivery, event: row.envelope as unknown as EventEnvelope, acceptedAt: row.acceptedAt, rule: row.rule, recipient: row.recipient, team: row.team },
      ]),
    );
    return ids.map((id) => byId.get(id) ?? null);
  }, { maxBatch: MAX_BATCH, lingerMs: GROUP_LINGER_MS });

  // One statement for the whole batch: atomic like the per-send transaction it replaces.
  const recordBatch = createGroupCommitter<AttemptRecord, void>(async (records) => {
    await db.execute(recordSuccessesStatement(records));
    return records.map(() => undefined);
  }, { maxBatch: MAX_BATCH, lingerMs: GROUP_LINGER_MS });

  return {
    async load(deliveryId) {
      const [context] = await loadBatch([deliveryId]);
      return context ?? null;
    },

    async recordSuccess(record) {
      await recordBatch([record]);
    },

    async recordFailure(record, final) {
      await db.transaction(async (tx) => {
        await tx.insert(deliveryAttempts).values(record);
        await tx
          .update(deliveries)
          .set({ attempts: record.attempt, lastError: record.error, updatedAt: sql`now()`, ...(final && { state: 'failed', failedAt: sql`now()` }) })
          .where(eq(deliveries.id, record.deliveryId));
        if (final) await failCarried(tx, record.deliveryId, record.error);
      });
    },

    async triesSince(deliveryId, since) {
      const [row] = await db
        .select({ count: sql<number>`count(*)::int` })
        .from(deliveryAttempts)
        .where(and(eq(deliveryAttempts.deliveryId, deliveryId), gte(deliveryAttempts.startedAt, since)));
      return row?.count ?? 0;
    },

    async markFailed(deliveryId, error) {
      return db.transaction(async (tx) => {
        const failed = await tx
          .update(deliveries)
          .set({ state: 'failed', failedAt: sql`now()`, updatedAt: sql`now()`, lastError: sql`coalesce(${deliveries.lastError}, ${rootCauseMessage(error).slice(0, 1_000)})` })
          .where(sql`${deliveries.id} = ${deliveryId} and ${deliveries.state} in ('pending', 'scheduled')`)
          .returning({ channel: deliveries.channel });
        if (failed.length > 0) await failCarried(tx, deliveryId, rootCauseMessage(error).slice(0, 1_000));
        return failed;
      });
    },

    release: (delivery) => releaseScheduled(db, delivery),
    digestOf: (delivery) => loadDigest(db, delivery),
  };
}

/**
 * Records successful tries, one statement for any number: each try goes into the attempt log,
 * each delivery moves to its outcome, and so do the digest members it carried (SPEC §4.1). The
 * members are probed per try on their partial index, in a LATERAL subquery that OFFSET 0 keeps
 * apart: joined with the tries, which Postgres takes for 10 rows whatever they hold, they were
 * found by hashing every delivery still pending, scheduled or failed whenever the table's
 * statistics were missing or out of date — the whole table read at every record (the webhook
 * bench: 15,000 deliveries, ~18 ms a record; 40,000 alone: 14 ms against 0.5). Each column goes
 * as one text array, cast here.
 */
export function recordSuccessesStatement(records: AttemptRecord[]): SQL {
  const column = (pick: (r: AttemptRecord) => string | number | null) => {
    const values = records.map((r) => pick(r)?.toString() ?? null);
    return sql`${sql.param(values)}::text[]`;
  };
  return sql`
    with outcome as (
      select o.delivery_id::uuid as delivery_id, o.attempt::int as attempt, o.started_at::timestamptz as started_at,
             o.duration_ms::int as duration_ms, o.status_code::int as status_code, o.outcome, o.error
      from unnest(
        ${column((r) => r.deliveryId)}, ${column((r) => r.attempt)}, ${column((r) => r.startedAt.toISOString())},
        ${column((r) => r.durationMs)}, ${column((r) => r.statusCode)}, ${column((r) => r.outcome)}, ${column((r) => r.error)}
      ) as o(delivery_id, attempt, started_at, duration_ms, status_code, outcome, error)
    ), logged as (
      insert into delivery_attempts (delivery_id, attempt, started_at, duration_ms, status_code, outcome, error)
      select delivery_id, attempt, started_at, duration_ms, status_code, outcome, error from outcome
    ), members as (
      select member.id, o.outcome
      from outcome o
      cross join lateral (
        select c.id from deliveries c
        where c.carried_by = o.delivery_id and c.state in ('scheduled', 'pending', 'failed')
        offset 0
      ) as member
    ), carried as (
      update deliveries m
      set state = c.outcome, last_error = null, updated_at = now(), sent_at = now(),
          delivered_at = case when c.outcome = 'delivered' then now() else m.delivered_at end
      from members c
      where m.id = c.id
    )
    update deliveries d
    set state = o.outcome, attempts = o.attempt, last_error = null, updated_at = now(), sent_at = now(),
        delivered_at = case when o.outcome = 'delivered' then now() else d.delivered_at end
    from outcome o
    where d.id = o.delivery_id`;
}

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** A digest's message failed for good: so did the members it carried. A retry of the message carries them again. */
async function failCarried(tx: Tx, carrierId: string, error: string | null): Promise<void> {
  await tx
    .update(deliveries)
    .set({ state: 'failed', failedAt: sql`now()`, updatedAt: sql`now()`, lastError: error })
    .where(sql`${deliveries.carriedBy} = ${carrierId} and ${deliveries.state} in ('scheduled', 'pending')`);
}
