import { parseArgs } from 'node:util';
import { connect, headers } from 'nats';
import { NATS_KEY_HEADER } from '../src/bus/natsListener.ts';

/**
 * Publishes one event envelope to Herald's JetStream subject, for when the nats CLI is not at
 * hand. The PubAck means the stream holds the message; the bus worker creates the stream, so
 * start it once first.
 *
 *   npx tsx scripts/publish-nats.ts [--key <service key>] [--subject herald.events.x] '<envelope JSON>'
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    key: { type: 'string' },
    subject: { type: 'string', default: 'herald.events.published' },
    url: { type: 'string', default: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' },
  },
});
const envelope = positionals[0];
if (!envelope) {
  process.stderr.write("usage: publish-nats.ts [--key <service key>] [--subject herald.events.x] [--url nats://…] '<envelope JSON>'\n");
  process.exit(2);
}

const nc = await connect({ servers: values.url });
try {
  const hdrs = headers();
  if (values.key) hdrs.set(NATS_KEY_HEADER, values.key);
  const ack = await nc.jetstream().publish(values.subject, envelope, { headers: hdrs });
  process.stdout.write(`stored in ${ack.stream} as #${ack.seq}\n`);
} catch (err) {
  const hint = (err as { code?: string }).code === '503' ? ' (no stream takes this subject: has the bus worker run once?)' : '';
  process.stderr.write(`publish failed: ${(err as Error).message}${hint}\n`);
  process.exitCode = 1;
} finally {
  await nc.close();
}
