import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, connectSoon, createDb, openDb } from '../../src/db/client.ts';
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
    const relay = await startTypeReadRelay(env.config.DATABASE_URL, { cutAfterFirst: true });
    const unheard = listenForUnhandledRejections();
    const db = createDb(relay.url, { max: 1 });
    try {
      const [backend] = await db.$client<{ pid: number }[]>`select pg_backend_pid() as pid`;
      // The outage: the backend goes, and the pool's next statement opens a connection of its own.
      await env.db.$client`select pg_terminate_backend(${backend!.pid})`;
      await expect.poll(() => relay.openSockets(), { timeout: 5_000 }).toBe(0);
      const read = db.$client<{ tenants: string[] }[]>`select array['acme', 'globex']::text[] as tenants`;
      read.catch(() => {});
      // Asking again, the connection lost its first statement with the types read: it never answered.
      const answer = await Promise.race([read, new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 5_000))]);
      expect(answer).not.toBe('no answer');
      // Arrays still come back as arrays: the types read by the first connection serve the second.
      expect((answer as { tenants: string[] }[])[0]!.tenants).toEqual(['acme', 'globex']);
      expect(relay.connections()).toBe(2);
      expect(relay.typeReads()).toBe(1);
      expect(unheard.reasons).toEqual([]);
    } finally {
      unheard.stop();
      await closeDb(db);
      await relay.close();
    }
  });
});

describe('openDb', () => {
  it('returns once its first connection is open and has read the array types, so no statement of a role ever waits on that read', async () => {
    const relay = await startTypeReadRelay(env.config.DATABASE_URL, { cutAfterFirst: false });
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
    const relay = await startTypeReadRelay(env.config.DATABASE_URL, { cutAfterFirst: false });
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

/** The file's database on a port where nothing listens any more. */
async function unreachablePostgresUrl(): Promise<string> {
  const relay = await startTypeReadRelay(env.config.DATABASE_URL, { cutAfterFirst: false });
  await relay.close();
  return relay.url;
}

/** Collects the process's unhandled rejections until `stop()`. */
function listenForUnhandledRejections(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const onUnhandled = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', onUnhandled);
  return { reasons, stop: () => void process.off('unhandledRejection', onUnhandled) };
}

/**
 * A TCP relay in front of a real Postgres that counts the connections through it and their asks
 * for the server's array types; with `cutAfterFirst`, every connection after the first is cut (both
 * sockets) the moment it asks for them.
 */
async function startTypeReadRelay(databaseUrl: string, { cutAfterFirst }: { cutAfterFirst: boolean }) {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let connections = 0;
  let typeReads = 0;
  const relay = createServer((client) => {
    const cut = connections++ > 0 && cutAfterFirst;
    const server = connect(Number(target.port), target.hostname);
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      if (chunk.includes('pg_catalog.pg_type')) {
        typeReads++;
        if (cut) {
          client.destroy();
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
