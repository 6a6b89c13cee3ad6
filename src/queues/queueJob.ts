import type { LineLogger } from '../logger.ts';
import type { PayloadOf, QueueKey } from './catalog.ts';

/**
 * One job as its handler gets it, whatever the queue: the payload the catalog's schema checked,
 * which try this is, the run's try budget, and what the worker runner gives every job — an
 * abort signal that fires at the queue's timeout, and a logger carrying the job's ids.
 */
export type QueueJob<K extends QueueKey> = {
  payload: PayloadOf<K>;
  /** 1 on the first try. */
  attempt: number;
  /**
   * When the job was created and how many tries it may spend. A manual retry is a new job,
   * hence a new run with a fresh budget.
   */
  run: { startedAt: Date; maxAttempts: number };
  signal: AbortSignal;
  logger: LineLogger;
};
