import {
  AckPolicy,
  connect,
  DeliverPolicy,
  headers,
  nanos,
  NatsError,
  RetentionPolicy,
  type Consumer,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from 'nats';
import { keyIdOf } from '../auth/serviceKeys.ts';
import type { Logger } from '../logger.ts';
import { createBackoff, pause, type BusMessageHandler, type BusOutcome } from './busMessage.ts';

/** The header that may carry a service key, like the Redis message's `key` field. */
export const NATS_KEY_HEADER = 'Herald-Key';
/** On a dead letter: why it was refused, where it came from, and which key (by its id, never the key) sent it. */
export const NATS_DEAD_HEADERS = { reason: 'Herald-Dead-Reason', subject: 'Herald-Source-Subject', sequence: 'Herald-Source-Sequence', keyId: 'Herald-Key-Id' } as const;

export type NatsListenerOptions = {
  url: string;
  /** Created with work-queue retention if missing: a message leaves the stream once acknowledged or dead-lettered. */
  stream: string;
  subject: string;
  durable: string;
  /** Dead letters are published here, kept by the stream `<stream>_DEAD` (created if missing). */
  deadSubject: string;
  handle: BusMessageHandler;
  logger: Logger;
  /** The consumer's ack wait: an unacknowledged message (its reader died) is delivered again after this. */
  claimIdleMs: number;
  /** Messages fetched at once; also the most this listener holds unacknowledged in memory. */
  batchSize?: number;
  fetchExpiresMs?: number;
  /** How long the server holds back a message that could not be stored now (database away). */
  retryDelayMs?: number;
};

export type NatsListener = { deadStream: string; close(): Promise<void> };

/**
 * SPEC §8's JetStream listener: a durable pull consumer with explicit acks. A message is acked
 * once its event is committed; an invalid one is published to the dead-letter subject and then
 * terminated (never redelivered); one that cannot be stored now is nak'ed with a delay.
 */
export async function startNatsListener(options: NatsListenerOptions): Promise<NatsListener> {
  const { stream, durable } = options;
  const deadStream = `${stream}_DEAD`;
  const batchSize = options.batchSize ?? 100;
  const retryDelayMs = options.retryDelayMs ?? 2_000;
  const log = options.logger.child({ bus: 'nats', stream, durable });

  const nc = await connect({ servers: options.url, name: 'herald-bus', maxReconnectAttempts: -1 });
  const jsm = await nc.jetstreamManager().catch(async (err: unknown) => {
    await nc.close();
    throw err;
  });
  async function ensureStreamsAndConsumer(): Promise<void> {
    await ensureStream(jsm, { name: stream, subjects: [options.subject], retention: RetentionPolicy.Workqueue });
    await ensureStream(jsm, { name: deadStream, subjects: [options.deadSubject], retention: RetentionPolicy.Limits });
    await ensureConsumer(jsm, options);
  }
  try {
    await ensureStreamsAndConsumer();
  } catch (err) {
    await nc.close();
    throw err;
  }
  const js = nc.jetstream();

  const stopping = new AbortController();
  const backoff = createBackoff();
  let current: ConsumerMessages | undefined;

  async function deadLetter(msg: JsMsg, reason: string): Promise<void> {
    const record = headers();
    // JetStream's own headers (Nats-Msg-Id, Nats-Expected-…) would change how the dead letter is
    // stored; the service key would sit in the dead-letter stream for anyone who can read it.
    for (const [name, values] of msg.headers ?? []) {
      if (name.toLowerCase() === NATS_KEY_HEADER.toLowerCase()) record.set(NATS_DEAD_HEADERS.keyId, keyIdOf(values[0] ?? ''));
      else if (!name.toLowerCase().startsWith('nats-')) for (const value of values) record.append(name, value);
    }
    const line = reason.replace(/[\r\n]+/g, ' ').slice(0, 2_000);
    record.set(NATS_DEAD_HEADERS.reason, line);
    record.set(NATS_DEAD_HEADERS.subject, msg.subject);
    record.set(NATS_DEAD_HEADERS.sequence, String(msg.seq));
    // The msgID makes a second dead-lettering of the same message (its term was lost) a no-op.
    await js.publish(options.deadSubject, msg.data, { headers: record, msgID: `${stream}:${msg.seq}` });
    // No reason on the term: servers before 2.10.4 ignore a `+TERM <reason>` altogether and
    // redeliver; the reason lives in the dead-letter record.
    msg.term();
  }

  async function handleOne(msg: JsMsg): Promise<BusOutcome> {
    const event = msg.data.length > 0 ? msg.string() : undefined;
    const key = msg.headers?.get(NATS_KEY_HEADER) || undefined;
    const outcome = await options.handle({ event, key }, `${stream}:${msg.seq}`, (reason) => deadLetter(msg, reason));
    try {
      if (outcome === 'acked') msg.ack();
      else if (outcome === 'retry') msg.nak(retryDelayMs);
    } catch (err) {
      // Connection gone: the server redelivers after the ack wait, and the store is idempotent.
      log.warn({ err, seq: msg.seq }, 'could not settle a bus message');
    }
    return outcome;
  }

  /** One fetch; each message is handled as it arrives (the intake groups concurrent stores into one commit). */
  async function fetchBatch(consumer: Consumer): Promise<BusOutcome[]> {
    const messages = await consumer.fetch({ max_messages: batchSize, expires: options.fetchExpiresMs ?? 5_000 });
    current = messages;
    if (stopping.signal.aborted) messages.stop();
    const settling: Promise<BusOutcome>[] = [];
    try {
      for await (const msg of messages) settling.push(handleOne(msg));
    } finally {
      current = undefined;
      // Even when the fetch broke off, the next one waits for these: never more than a batch in hand.
      await Promise.allSettled(settling);
    }
    return Promise.all(settling);
  }

  async function run(): Promise<void> {
    let consumer: Consumer | undefined;
    while (!stopping.signal.aborted) {
      try {
        consumer ??= await js.consumers.get(stream, durable);
        const outcomes = await fetchBatch(consumer);
        if (outcomes.includes('retry')) await pause(backoff.next(), stopping.signal);
        else if (outcomes.length > 0) backoff.reset();
      } catch (err) {
        if (stopping.signal.aborted) break;
        log.warn({ err }, 'bus fetch failed; retrying');
        await pause(backoff.next(), stopping.signal);
        // The consumer (or its stream) may have been deleted: put it back as configured.
        consumer = undefined;
        await ensureStreamsAndConsumer().catch((e: unknown) => log.warn({ err: e }, 'cannot restore the JetStream consumer yet'));
      }
    }
  }

  const running = run().catch((err: unknown) => log.error({ err }, 'NATS listener stopped'));
  log.info({ subject: options.subject }, 'listening to the NATS JetStream subject');

  return {
    deadStream,
    async close() {
      stopping.abort();
      // Messages fetched but not yet handed out are not acked: the server redelivers them after the ack wait.
      current?.stop();
      await running;
      await nc.drain();
    },
  };
}

async function ensureStream(jsm: JetStreamManager, config: { name: string; subjects: string[]; retention: RetentionPolicy }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(config);
  }
}

async function ensureConsumer(jsm: JetStreamManager, options: NatsListenerOptions): Promise<void> {
  const ackWait = nanos(options.claimIdleMs);
  try {
    const info = await jsm.consumers.info(options.stream, options.durable);
    if (info.config.ack_wait !== ackWait) await jsm.consumers.update(options.stream, options.durable, { ack_wait: ackWait });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(options.stream, {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: options.subject,
      ack_wait: ackWait,
    });
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof NatsError && err.api_error?.code === 404;
}
