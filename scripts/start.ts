/**
 * `npm start`: Herald on one machine for a first try. Finds Postgres and Redis (or starts local
 * ones under .data/), prepares the database and a demo tenant, then runs every Procfile process
 * with readable logs. Ctrl-C stops them all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { prettyFactory } from 'pino-pretty';
import { signUserToken } from '../src/auth/userTokens.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { closeDb, createDb } from '../src/db/client.ts';
import { runMigrations } from '../src/db/migrate.ts';
import { DEMO_TENANT, DEMO_USERS, seedDemo } from '../src/demo/demoDirectory.ts';
import { ensureDemoVapidKeys } from '../src/push/vapidKeys.ts';
import { startDemoMailbox } from './demoMailbox.ts';
import { procfileProcesses } from './procfile.ts';
import { isListening, startLocalPostgres, startLocalRedis, type LocalService } from './localServices.ts';

const root = resolve(import.meta.dirname, '..');
const dataDir = join(root, '.data');
mkdirSync(dataDir, { recursive: true });
const localServices: LocalService[] = [];

function say(line: string): void {
  process.stdout.write(`\x1b[1mherald\x1b[0m  ${line}\n`);
}

/** Demo secrets are generated once and kept in .data/, so tokens survive a restart. */
function demoSecrets(): { jwtSecret: string; serviceKey: string } {
  const file = join(dataDir, 'demo-secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const secrets = { jwtSecret: randomBytes(32).toString('base64url'), serviceKey: `hk_demo_${randomBytes(18).toString('base64url')}` };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = target.pathname.slice(1) || 'herald';
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const admin = postgres(adminUrl.toString(), { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!row) await admin.unsafe(`create database "${name.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
}

const COLORS = [36, 35, 33, 32, 34, 31, 96, 95, 93];

function run(name: string, command: string[], env: NodeJS.ProcessEnv, color: number): ChildProcess {
  const [bin, ...args] = command;
  const executable = existsSync(join(root, 'node_modules/.bin', bin!)) ? join(root, 'node_modules/.bin', bin!) : bin!;
  const child = spawn(executable, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pretty = prettyFactory({ colorize: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname,name', singleLine: true });
  const prefix = `\x1b[${color}m${name.padEnd(7)}\x1b[0m| `;
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      const text = line.startsWith('{') ? pretty(line).trimEnd() : line;
      process.stdout.write(`${prefix}${text}\n`);
    });
  }
  return child;
}

async function main(): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const secrets = demoSecrets();
  env.JWT_SECRET ??= secrets.jwtSecret;
  env.SERVICE_KEYS ??= JSON.stringify({ [secrets.serviceKey]: ['*'] });
  env.HERALD_DEMO ??= 'true';
  if (!env.VAPID_PUBLIC_KEY && !env.VAPID_PRIVATE_KEY) {
    // Browser subscriptions are bound to the key pair, so the demo keeps one in .data/.
    const vapid = ensureDemoVapidKeys(dataDir);
    env.VAPID_PUBLIC_KEY = vapid.publicKey;
    env.VAPID_PRIVATE_KEY = vapid.privateKey;
    env.VAPID_SUBJECT ??= vapid.subject;
  }

  // Every process would refuse a bad variable at start; saying so once, before any of them runs, is clearer.
  loadConfig(env);

  if (!env.DATABASE_URL && !(await isListening(5432))) {
    say('no Postgres at 127.0.0.1:5432; starting one under .data/postgres on port 5499');
    const pg = await startLocalPostgres(dataDir, 5499);
    localServices.push(pg);
    env.DATABASE_URL = pg.url;
  }
  if (!env.REDIS_URL && !(await isListening(6379))) {
    say('no Redis at 127.0.0.1:6379; starting redis-server on port 6399');
    const redis = await startLocalRedis(6399);
    localServices.push(redis);
    env.REDIS_URL = redis.url;
  }
  let stopMailbox: (() => void) | undefined;
  if (!env.SMTP_URL && !(await isListening(1025))) {
    stopMailbox = await startDemoMailbox(dataDir, 1025, say);
    say('no SMTP relay at 127.0.0.1:1025; emails go to a local demo mailbox under .data/mail/');
  }
  const databaseUrl = env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/herald';
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, { max: 2 });
  await runMigrations(db);
  await seedDemo(db);
  await closeDb(db);

  const port = env.PORT ?? '3000';
  const children = procfileProcesses().map(({ name, command }, i) => ({ name, child: run(name, command, env, COLORS[i % COLORS.length]!) }));

  const aliceToken = await signUserToken({ secret: env.JWT_SECRET! }, { sub: 'alice', tenants: [DEMO_TENANT.id], role: 'admin' });
  say(`running ${children.map((c) => c.name).join(', ')} — Ctrl-C stops them all`);
  say(`open http://127.0.0.1:${port}/  (demo tenant "${DEMO_TENANT.id}", users ${DEMO_USERS.map((u) => u.id).join(', ')})`);
  say(`service key: ${secrets.serviceKey}`);
  say(`publish: curl -X POST 127.0.0.1:${port}/api/v1/events -H 'authorization: Bearer ${secrets.serviceKey}' -H 'content-type: application/json' -d '{"type":"finding_created","tenantId":"demo","severity":"high","assigneeUserIds":["alice"],"data":{"title":"SQL injection in /login"}}'`);
  say(`watch:   curl -N 127.0.0.1:${port}/api/v1/events -H 'authorization: Bearer ${aliceToken}'`);

  let stopping = false;
  let failed = false;
  const stopAll = () => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    for (const { child } of children) child.kill('SIGTERM');
  };
  process.on('SIGINT', stopAll);
  process.on('SIGTERM', stopAll);
  await Promise.all(
    children.map(
      ({ name, child }) =>
        new Promise<void>((done) =>
          child.on('exit', (code, signal) => {
            if (!stopping) {
              // A process that ends by itself has failed, whatever its code: they only stop when told.
              failed = true;
              say(`${name} exited with ${code ?? signal}; stopping the rest`);
              stopAll();
            } else if (code !== 0 && code !== null) {
              failed = true;
            }
            done();
          }),
        ),
    ),
  );
  stopMailbox?.();
  for (const service of localServices) service.stop();
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  // A ConfigError's message is the one line naming the variable.
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `herald: ${(err as Error).message}\n`);
  for (const service of localServices) service.stop();
  process.exit(1);
});
