import { z } from 'zod';
import { isP256PublicKey, isVapidPrivateKey, isVapidSubject, vapidPairProblem } from './push/vapidKeys.ts';

const serviceKeysSchema = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON like {"<key>": ["<tenantId>"]}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().min(16, 'keys must be at least 16 characters'), z.array(z.string().min(1)).min(1)));

const optionalPositiveInt = z.coerce.number().int().positive().optional();

/** `host:port,host:port`: the seed nodes of a Redis Cluster (any reachable one tells the client about the rest). */
const clusterNodesSchema = z.string().transform((raw, ctx) => {
  const nodes = raw.split(',').map((item) => item.trim()).filter(Boolean).map((item) => {
    const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})$/.exec(item);
    const port = Number(match?.[2]);
    return match && port > 0 && port <= 65535 ? { host: match[1]!.replace(/^\[|\]$/g, ''), port } : null;
  });
  if (nodes.length === 0 || nodes.some((node) => node === null)) {
    ctx.addIssue({ code: 'custom', message: 'must be comma-separated host:port pairs, like 10.0.0.1:7000,10.0.0.2:7000' });
    return z.NEVER;
  }
  return nodes as { host: string; port: number }[];
});

/** JetStream names (streams, durables) may not contain spaces, `.`, `*`, `>` or path separators. */
const natsName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ - only (at most 64)');
const natsSubject = z.string().regex(/^[A-Za-z0-9_-]+(\.([A-Za-z0-9_-]+|\*))*(\.>)?$/, 'must be a NATS subject like herald.events.>');

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/herald'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** A Redis Cluster instead of REDIS_URL (SPEC §8.1). */
  REDIS_CLUSTER_NODES: clusterNodesSchema.optional(),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('herald'),
  /** Postgres connections each process's pool may open: the per-process share of the server's max_connections. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** Age in days after which events, deliveries, attempts and read or archived notifications are deleted (SPEC §8.1). */
  RETENTION_DAYS: z.coerce.number().positive().default(90),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  /** The oldest `iat` a user token may have (or, without `iat`, how far ahead its `exp` may be). */
  JWT_MAX_AGE_SECONDS: z.coerce.number().int().positive().default(86_400),
  SERVICE_KEYS: serviceKeysSchema.default({}),
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).default('smtp://127.0.0.1:1025'),
  EMAIL_FROM: z
    .string()
    .regex(/^\s*(?:[^<>\r\n]*<[^@\s<>]+@[^@\s<>]+>|[^@\s<>]+@[^@\s<>]+)\s*$/, 'must be an address, or a name and <address>')
    .default('Herald <notifications@herald.local>'),
  /** SMTP sends one email worker process runs at once (the bulkhead, and the relay connection pool's size). */
  EMAIL_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(5),
  /** SMTP connect, greeting and per-command timeout; under the email queue's 30 s job timeout, so the relay's error is what gets recorded. */
  SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).max(25_000).default(20_000),
  /** Budget of one outbound HTTP request (webhook, Slack, Teams, Web Push); under the queues' 20 s job timeout, so a hanging receiver is a recorded timeout. */
  OUTBOUND_TIMEOUT_MS: z.coerce.number().int().min(100).max(15_000).default(10_000),
  /** Consecutive transient failures that open a destination's circuit breaker (SPEC §4: 5). */
  BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  /** How long an open breaker holds its destination's deliveries back before a trial send (SPEC §4: 60 s). */
  BREAKER_OPEN_MS: z.coerce.number().int().min(100).default(60_000),
  /** First retry delay of every queue, doubling per try; unset, each queue's own from the catalog (1 s for routing … 15 s for email). */
  RETRY_BACKOFF_MS: optionalPositiveInt,
  OUTBOUND_ALLOW_HOSTS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
  NATS_URL: z.string().min(1).optional(),
  NATS_STREAM: natsName.default('HERALD'),
  NATS_SUBJECT: natsSubject.default('herald.events.>'),
  NATS_DURABLE: natsName.default('herald-bus'),
  /** Dead letters go to this subject, kept by the stream `<NATS_STREAM>_DEAD`; it must not match NATS_SUBJECT. */
  NATS_DEAD_SUBJECT: natsSubject.default('herald.dead'),
  /** The service key whose tenant scope applies to bus messages that name no key; unset, such messages are dead-lettered. */
  BUS_DEFAULT_KEY: z.string().min(1).optional(),
  /**
   * How long a bus message may stay unacknowledged with one consumer before another takes it
   * over: Redis XAUTOCLAIM's idle time and JetStream's ack wait.
   */
  BUS_CLAIM_IDLE_MS: z.coerce.number().int().min(100).default(30_000),
  INTAKE_RATE_LIMIT: optionalPositiveInt,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds between comment heartbeats on each live stream (SPEC §6: at most 20). */
  SSE_HEARTBEAT_SECONDS: z.coerce.number().positive().max(20).default(15),
  /** Seconds an accepted event may stay unrouted before the outbox sweeper enqueues it again. */
  OUTBOX_SWEEP_AFTER_SECONDS: z.coerce.number().positive().default(15),
  /** `user:password` for HTTP basic auth on /admin/queues (besides admin tokens and a `*` service key). */
  ADMIN_BASIC_AUTH: z.string().regex(/^[^:]+:.{8,}$/, 'must be user:password with a password of 8+ characters').optional(),
  /** Port on which a worker process serves its own /metrics (the API serves them on PORT). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Demo mode (set by `npm start`): serves the demo helpers on the bell page. */
  HERALD_DEMO: z.stringbool().default(false),
  /** Web Push (VAPID, RFC 8292): all three or none; without them push deliveries fail saying push is not configured. */
  VAPID_PUBLIC_KEY: z.string().refine(isP256PublicKey, 'must be a base64url P-256 public key (65 bytes uncompressed)').optional(),
  VAPID_PRIVATE_KEY: z.string().refine(isVapidPrivateKey, 'must be a base64url 32-byte P-256 private key').optional(),
  VAPID_SUBJECT: z.string().refine(isVapidSubject, 'must be a mailto: address or an https: URL').optional(),
}).superRefine((env, ctx) => {
  if (env.BUS_DEFAULT_KEY !== undefined && !Object.hasOwn(env.SERVICE_KEYS, env.BUS_DEFAULT_KEY)) {
    ctx.addIssue({ code: 'custom', path: ['BUS_DEFAULT_KEY'], message: 'must be one of the keys in SERVICE_KEYS' });
  }
  const vapid = ['VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY', 'VAPID_SUBJECT'] as const;
  const given = vapid.filter((name) => env[name] !== undefined);
  if (given.length === 0) return;
  for (const name of vapid) {
    if (env[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: `is required when ${given[0]} is set` });
  }
  if (env.VAPID_PUBLIC_KEY && env.VAPID_PRIVATE_KEY) {
    const problem = vapidPairProblem(env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY);
    if (problem) ctx.addIssue({ code: 'custom', path: ['VAPID_PRIVATE_KEY'], message: problem });
  }
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {}

type Issue = z.core.$ZodIssue;

/** A record's bad key or value is reported as "Invalid key in record" around the issue that says why; that one is wanted. */
function innermost(issue: Issue): Issue {
  let inner = issue;
  while ('issues' in inner && Array.isArray(inner.issues) && inner.issues.length > 0) inner = inner.issues[0] as Issue;
  return inner;
}

/** Parses the environment once; throws a ConfigError whose message is one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const issue = innermost(parsed.error.issues[0]!);
  const name = String(parsed.error.issues[0]!.path[0] ?? 'environment');
  // A cross-variable check explains itself ("is required when … is set"); a plain missing one is just required.
  const problem = cleaned[name] === undefined && issue.code !== 'custom' ? 'is required' : issue.message;
  throw new ConfigError(`Invalid configuration: ${name} ${problem}`);
}

/** For entry points: load the config or print one line and exit. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
