import { z } from 'zod';

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

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/herald'),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').default('herald'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters'),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  SERVICE_KEYS: serviceKeysSchema.default({}),
  SMTP_URL: z.url({ protocol: /^smtps?$/ }).default('smtp://127.0.0.1:1025'),
  EMAIL_FROM: z.string().min(3).default('Herald <notifications@herald.local>'),
  OUTBOUND_ALLOW_HOSTS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean)),
  NATS_URL: z.string().min(1).optional(),
  INTAKE_RATE_LIMIT: optionalPositiveInt,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Seconds an accepted event may stay unrouted before the outbox sweeper enqueues it again. */
  OUTBOX_SWEEP_AFTER_SECONDS: z.coerce.number().positive().default(15),
  /** Demo mode (set by `npm start`): serves the demo helpers on the bell page. */
  HERALD_DEMO: z.stringbool().default(false),
});

export type Config = z.infer<typeof envSchema>;

export class ConfigError extends Error {}

/** Parses the environment once; throws a ConfigError whose message is one line naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0] ?? 'environment');
  const problem = cleaned[name] === undefined ? 'is required' : issue.message;
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
