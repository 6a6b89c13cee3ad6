import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, connectSoon, createDb, GENERIC_PLAN_SETTINGS, openDb, type Db } from '../../src/db/client.ts';
import { createTestEnv, type TestEnv } from '../helpers/testEnv.ts';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.cleanup();
});

describe('createDb', () => {
  it('applies its session settings to every connection of the pool, and keeps the defaults beside them', async () => {
    const db = createDb(env.config.DATABASE_URL, { max: 3, settings: { synchronous_commit: 'off' } });
    try {
      // Reserved at once, so each query runs on a connection of its own.
      const connections = await Promise.all([1, 2, 3].map(() => db.$client.reserve()));
      const sessions = await Promise.all(
        connections.map(async (connection) => {
          const [row] = await connection<{ pid: number; synchronous_commit: string; statement_timeout: string }[]>`
            select pg_backend_pid() as pid, current_setting('synchronous_commit') as synchronous_commit, current_setting('statement_timeout') as statement_timeout`;
          connection.release();
          return row!;
        }),
      );
      expect(new Set(sessions.map((s) => s.pid)).size).toBe(3);
      for (const session of sessions) expect(session).toMatchObject({ synchronous_commit: 'off', statement_timeout: '10s' });
    } finally {
      await closeDb(db);
    }
  });

  it('leaves commits durable on a pool without settings', async () => {
    const db = createDb(env.config.DATABASE_URL, { max: 1 });
    try {
      const [row] = await db.$client<{ value: string }[]>`select current_setting('synchronous_commit') as value`;
      expect(row!.value).toBe('on');
    } finally {
      await closeDb(db);
    }
  });

  it('reads the server\'s array types once: a connection opened after an outage never asks again, so losing it then rejects nothing unheard', async () => {
    // Every connection after the first is cut the moment it asks for the array types, as a
    // restart does to a connection caught in its first statement.
    await onRelayedPool(
      (connection) => (connection === 0 ? 'forward' : 'cutAtTypeRead'),
      async (db, relay) => {
        const [backend] = await db.$client<{ pid: number }[]>`select pg_backend_pid() as pid`;
        // The outage: the backend goes, and the pool's next statement opens a connection of its own.
        await env.db.$client`select pg_terminate_backend(${backend!.pid})`;
        await expect.poll(() => relay.openSockets(), { timeout: 5_000 }).toBe(0);
        const read = readTenants(db);
        read.catch(() => {});
        // Asking again, the connection lost its first statement with the types read: it never answered.
        const answer = await Promise.race([read, new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 5_000))]);
        expect(answer).not.toBe('no answer');
        // Arrays still come back as arrays: the types read by the first connection serve the second.
        expect((answer as { tenants: string[] }[])[0]!.tenants).toEqual(['acme', 'globex']);
        expect(relay.connections()).toBe(2);
        expect(relay.typeReads()).toBe(1);
      },
    );
  });
});

describe('GENERIC_PLAN_SETTINGS', () => {
  /** Whether Postgres compiled `statement` with JIT on a pool with these settings (EXPLAIN ANALYZE shows a JIT section then). */
  async function compiledWithJit(settings: Record<string, string>, statement: string): Promise<boolean> {
    const db = createDb(env.config.DATABASE_URL, { max: 1, settings });
    try {
      const [row] = await db.$client.unsafe<{ 'QUERY PLAN': [Record<string, unknown>] }[]>(`explain (analyze, format json) ${statement}`);
      return 'JIT' in row!['QUERY PLAN'][0];
    } finally {
      await closeDb(db);
    }
  }

  it('runs a statement that still scans without compiling it, though each scan is priced at 10^10 there: the array-type read that opens every pool', async () => {
    // The read postgres.js runs on a pool's first connection, which no index can serve.
    const typeRead = `select b.oid, b.typarray from pg_catalog.pg_type a left join pg_catalog.pg_type b on b.oid = a.typelem
      where a.typcategory = 'A' group by b.oid, b.typarray order by b.oid`;
    expect(await compiledWithJit(GENERIC_PLAN_SETTINGS, typeRead)).toBe(false);
    // Where the server can compile at all, the same settings with JIT left on do compile it: the setting is what keeps it away.
    const [jit] = await env.db.$client<{ available: boolean }[]>`select pg_jit_available() as available`;
    if (jit!.available) expect(await compiledWithJit({ ...GENERIC_PLAN_SETTINGS, jit: 'on' }, typeRead)).toBe(true);
  });
});

describe('postgres.js, as patched (patches/postgres+3.4.9.patch)', () => {
  it('a first connection reset while it reads the array types fails its statement and leaves no unhandled rejection; the next reads them afresh', async () => {
    await onRelayedPool(
      (connection) => (connection === 0 ? 'resetAtTypeRead' : 'forward'),
      async (db, relay) => {
        await expect(db.$client`select 1`).rejects.toThrow(/ECONNRESET/);
        const [row] = await readTenants(db);
        expect(row!.tenants).toEqual(['acme', 'globex']);
        expect(relay.typeReads()).toBe(2);
      },
    );
  });

  it('a first connection closed while it reads the array types, then answered "starting up", still ends on a connection that has read them', async () => {
    // The close (no error) reconnects with the statement kept; the second connection is told the
    // server is starting up. postgres.js kept the lost types read as the statement in progress
    // across the reconnect, charged the 57P03 to it and kept that error past the close, then
    // failed the third connection's own statement with it as that connection opened — skipping
    // the types read, so every array it sent went out as text ("malformed array literal").
    await onRelayedPool(
      (connection) => (connection === 0 ? 'cutAtTypeRead' : connection === 1 ? 'startingUp' : 'forward'),
      async (db) => {
        // The server did say it was starting up; failing the first statement for it is fair.
        await readTenants(db).catch((err: { code?: string }) => expect(err.code).toBe('57P03'));
        const [row] = await readTenants(db);
        expect(row!.tenants).toEqual(['acme', 'globex']);
      },
    );
  });
});

describe('openDb', () => {
  it('returns once its first connection is open and has read the array types, so no statement of a role ever waits on that read', async () => {
    const relay = await startTypeReadRelay(env.config.DATABASE_URL, () => 'forward');
    const db = await openDb(relay.url, { max: 2 });
    try {
      expect(relay.connections()).toBe(1);
      expect(relay.typeReads()).toBe(1);
      // A second connection, opened for a second statement at once, skips the read; arrays serialize both ways.
      const rows = await Promise.all(
        [['acme'], ['globex', 'initech']].map((tenants) => db.$client<{ tenants: string[] }[]>`select ${tenants}::text[] as tenants`),
      );
      expect(rows.map(([row]) => row!.tenants)).toEqual([['acme'], ['globex', 'initech']]);
      expect(relay.typeReads()).toBe(1);
    } finally {
      await closeDb(db);
      await relay.close();
    }
  });

  it('fails at once when Postgres cannot be reached, rather than handing out a pool that is not there', async () => {
    const unreachable = await unreachablePostgresUrl();
    await expect(openDb(unreachable, { max: 1 })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('connectSoon', () => {
  it('reads the array types in the background when Postgres is there, before any statement asks', async () => {
    const relay = await startTypeReadRelay(env.config.DATABASE_URL, () => 'forward');
    const db = connectSoon(createDb(relay.url, { max: 1 }));
    try {
      await expect.poll(() => relay.typeReads(), { timeout: 5_000 }).toBe(1);
      const [row] = await db.$client<{ tenants: string[] }[]>`select ${['acme', 'globex']}::text[] as tenants`;
      expect(row!.tenants).toEqual(['acme', 'globex']);
      expect(relay.connections()).toBe(1);
    } finally {
      await closeDb(db);
      await relay.close();
    }
  });

  it('leaves nothing unheard when Postgres cannot be reached, and a statement then fails rather than waits', async () => {
    const unreachable = await unreachablePostgresUrl();
    const unheard = listenForUnhandledRejections();
    const db = connectSoon(createDb(unreachable, { max: 1 }));
    try {
      await expect(db.$client`select 1`).rejects.toThrow(/ECONNREFUSED/);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unheard.reasons).toEqual([]);
    } finally {
      unheard.stop();
      await closeDb(db);
    }
  });
});

/** A statement with an array parameter, sent as Herald's are (drizzle runs them through `unsafe`). */
const readTenants = (db: Db) => db.$client.unsafe<{ tenants: string[] }[]>('select $1::text[] as tenants', [['acme', 'globex']]);

/** The file's database on a port where nothing listens any more. */
async function unreachablePostgresUrl(): Promise<string> {
  const relay = await startTypeReadRelay(env.config.DATABASE_URL, () => 'forward');
  await relay.close();
  return relay.url;
}

/**
 * Runs `use` on a pool of one connection behind a relay that treats each connection as
 * `behaviour` says, then checks that nothing was rejected unheard meanwhile.
 */
async function onRelayedPool(
  behaviour: (connection: number) => RelayBehaviour,
  use: (db: Db, relay: Awaited<ReturnType<typeof startTypeReadRelay>>) => Promise<void>,
): Promise<void> {
  const relay = await startTypeReadRelay(env.config.DATABASE_URL, behaviour);
  const unheard = listenForUnhandledRejections();
  const db = createDb(relay.url, { max: 1 });
  try {
    await use(db, relay);
    // Unhandled rejections are reported on a later turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unheard.reasons).toEqual([]);
  } finally {
    unheard.stop();
    await closeDb(db);
    await relay.close();
  }
}

/** Collects the process's unhandled rejections until `stop()`. */
function listenForUnhandledRejections(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const onUnhandled = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', onUnhandled);
  return { reasons, stop: () => void process.off('unhandledRejection', onUnhandled) };
}

/** What the relay does with one connection: pass it through, cut it (a close, or a reset) when it asks for the array types, or answer as a server still starting up. */
type RelayBehaviour = 'forward' | 'cutAtTypeRead' | 'resetAtTypeRead' | 'startingUp';

/** FATAL 57P03, as a Postgres still starting up answers a startup message before it closes. */
const STARTING_UP = (() => {
  const fields = Buffer.from('SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0');
  const header = Buffer.alloc(5);
  header.write('E');
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
})();

/**
 * A TCP relay in front of a real Postgres that counts the connections through it and their asks
 * for the server's array types, and treats each connection as `behaviour` says for its index (0
 * the first).
 */
async function startTypeReadRelay(databaseUrl: string, behaviour: (connection: number) => RelayBehaviour) {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let connections = 0;
  let typeReads = 0;
  /** Keeps a socket until it closes, for close() to destroy; its errors are the test's to cause. */
  const track = <S extends Socket>(socket: S): S => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  const relay = createServer((client) => {
    const treat = behaviour(connections++);
    track(client);
    if (treat === 'startingUp') {
      client.once('data', () => client.end(STARTING_UP));
      return;
    }
    const server = track(connect(Number(target.port), target.hostname));
    client.on('data', (chunk: Buffer) => {
      if (chunk.includes('pg_catalog.pg_type')) {
        typeReads++;
        if (treat === 'cutAtTypeRead' || treat === 'resetAtTypeRead') {
          if (treat === 'resetAtTypeRead') client.resetAndDestroy();
          else client.destroy();
          server.destroy();
          return;
        }
      }
      server.write(chunk);
    });
    server.pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.port = String((relay.address() as AddressInfo).port);
  return {
    url: url.toString(),
    connections: () => connections,
    typeReads: () => typeReads,
    openSockets: () => sockets.size,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}
