import type { Config } from '../../src/config.ts';
import { closeDb, GENERIC_PLAN_SETTINGS, openDb } from '../../src/db/client.ts';
import { createGroupCommitter } from '../../src/groupCommit.ts';
import { createOutboxSweeper } from '../../src/intake/outboxSweeper.ts';
import type { Logger } from '../../src/logger.ts';
import { closeQueues, createQueues, type PayloadOf } from '../../src/queues/catalog.ts';
import { createFramePublisher } from '../../src/realtime/liveFrames.ts';
import { createRedis, slotPrefix } from '../../src/redis.ts';
import { usersWithOpenStreams } from '../../src/realtime/streamLimit.ts';
import { eventKey, type EventRef } from '../../src/intake/eventEnvelope.ts';
import { createRetentionSweep } from '../../src/retention/retentionSweep.ts';
import { createRuleCache } from '../../src/routing/ruleCache.ts';
import { finishRouting, routePass, ROUTED_MARK_SETTINGS, type RoutingFinish, type StoredEvent } from '../../src/routing/routeEvents.ts';
import { createCachedTemplateSource } from '../../src/templates/templateRenderer.ts';
import { runWorker } from '../run-worker.ts';
import type { Role } from './role.ts';

/** Most events routed in one pass; the jobs that arrive while a pass runs make the next one. */
const ROUTE_GROUP_MAX = 500;

/** How long a finished pass's mark waits for the marks of later passes to go with it. */
const MARK_LINGER_MS = 50;

type RouteItem = { event: EventRef; carried: StoredEvent | undefined };

/** The envelopes a route job carries, by eventKey. */
function carriedEvents(stored: NonNullable<PayloadOf<'route'>['stored']>): Map<string, StoredEvent> {
  const acceptedAt = new Date(stored.acceptedAt);
  return new Map(stored.envelopes.map((event) => [eventKey(event), { event, acceptedAt, announced: false }]));
}

/**
 * The router: turns stored events into deliveries — writing small fan-outs' inbox rows and
 * frames itself, enqueuing everything else — and sweeps the outbox for events that never got routed.
 */
export async function startRouter(config: Config, logger: Logger): Promise<Role> {
  const db = await openDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  // Most passes carry a few events: their directory reads and routing writes run planned once
  // per connection (RouteDeps.genericPlanDb). Passes run one at a time, so one connection serves
  // them. (A pool of one that holds statements at once hung across a Postgres restart in the
  // postgresDown fault test, 2 of 6 runs: the postgres.js bug patches/postgres+3.4.9.patch mends,
  // test/faults/postgresRestartPool.fault.ts.)
  const genericPlanDb = await openDb(config.DATABASE_URL, { max: 1, settings: GENERIC_PLAN_SETTINGS });
  const producer = createRedis(config, 'command');
  const subscriber = createRedis(config, 'subscriber');
  const queues = createQueues(producer, slotPrefix(config), config.RETRY_BACKOFF_MS);
  // Frames go out on a connection of their own, of the same role as the queues' one: ioredis
  // copies every script defined on a connection into each pipeline it makes, and BullMQ defines
  // 64 on the queues' one, so each pass's one-publish pipeline there cost ~125 µs of CPU against
  // 50–90 on a plain connection.
  const publisher = createRedis(config, 'command');
  const frames = createFramePublisher(publisher, config.REDIS_PREFIX);
  const templates = await createCachedTemplateSource({ db, subscriber, prefix: config.REDIS_PREFIX, logger });
  const rules = createRuleCache(db);
  const sweeper = createOutboxSweeper({ db, queues, logger, afterSeconds: config.OUTBOX_SWEEP_AFTER_SECONDS });
  // The router already sweeps the outbox; deleting old history is the same kind of background chore.
  const retention = createRetentionSweep({ db, logger, retentionDays: config.RETENTION_DAYS });
  // Marking events routed is on nobody's way: a route job completes once its frames are out,
  // and each pass hands its events to this committer, which lingers so that the marks of the
  // passes ending meanwhile go as one statement — under a light steady load a pass routes one or
  // two events, and a mark per pass cost Postgres more CPU than any other step of an event. If
  // the router dies before the mark lands, the events look unrouted and the sweeper routes them
  // again, adding nothing and announcing their rows once more (as a crash between the frames and
  // the mark always did). The mark has a connection of its own (ROUTED_MARK_SETTINGS says why).
  const finishDb = await openDb(config.DATABASE_URL, { max: 1, settings: ROUTED_MARK_SETTINGS });
  const finish = createGroupCommitter(
    async (finishes: RoutingFinish[]) => {
      await finishRouting(finishDb, finishes);
      return finishes.map(() => undefined);
    },
    { lingerMs: MARK_LINGER_MS },
  );
  // The committer's one flusher takes the marks in the order handed over, so the last one
  // settles after every other: it is all that closing has to wait for.
  let lastMark: Promise<void> = Promise.resolve();
  const markRouted = (passFinish: RoutingFinish) => {
    lastMark = finish([passFinish]).then(
      () => undefined,
      (err: unknown) => logger.warn({ err, events: passFinish.events.length }, 'could not mark events routed; the outbox sweeper routes them again'),
    );
  };
  // The events of the jobs held at once are routed together, in the round trips of one; a
  // group that fails is routed again event by event, so one poison event fails alone.
  const route = createGroupCommitter(
    async (items: RouteItem[]) => {
      const { plans, finish: passFinish } = await routePass(
        { db, genericPlanDb, queues, frames, templates, rules, presence: (userIds) => usersWithOpenStreams(producer, config.REDIS_PREFIX, userIds) },
        items.map((item) => item.event),
        new Map(items.flatMap((item) => (item.carried ? [[eventKey(item.event), item.carried] as const] : []))),
      );
      markRouted(passFinish);
      return plans;
    },
    { maxBatch: ROUTE_GROUP_MAX, isolateFailures: true },
  );
  const worker = runWorker({
    queue: 'route',
    config,
    logger,
    handle: async ({ payload: { events, stored }, attempt, logger: log }) => {
      // A first try routes the envelopes the intake handed over; a retry reads the rows, which
      // also tell whether an earlier try announced the events already.
      const carried = attempt === 1 && stored ? carriedEvents(stored) : new Map<string, StoredEvent>();
      // The job's events go to one pass together (submitted one by one, the first would start a
      // pass alone). Every event is settled before the job fails, so the retry finds the good ones routed.
      const outcomes = await Promise.allSettled(route.each(events.map((event) => ({ event, carried: carried.get(eventKey(event)) }))));
      const missing = events.filter((_, i) => outcomes[i]!.status === 'fulfilled' && (outcomes[i] as PromiseFulfilledResult<unknown>).value === null);
      if (missing.length > 0) log.warn({ missing }, 'events not found; nothing to route');
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
      log.debug({ events: events.length }, 'events routed');
    },
  });
  sweeper.start();
  retention.start();
  return {
    async close() {
      await retention.stop();
      await sweeper.stop();
      await worker.close();
      await lastMark;
      await templates.close();
      await closeQueues(queues);
      subscriber.disconnect();
      publisher.disconnect();
      producer.disconnect();
      await closeDb(finishDb);
      await closeDb(genericPlanDb);
      await closeDb(db);
    },
  };
}
