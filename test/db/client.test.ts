import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDb, createDb } from '../../src/db/client.ts';
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
    // A real Postgres behind a TCP relay that cuts every connection after the first the moment it
    // asks for the array types, as a restart does to a connection caught in its first statement.
    const target = new URL(env.config.DATABASE_URL);
    const sockets = new Set<Socket>();
    let connections = 0;
    let typeReadsCut = 0;
    const relay = createServer((client) => {
      const first = connections++ === 0;
      const server = connect(Number(target.port), target.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => sockets.delete(socket));
      }
      client.on('data', (chunk: Buffer) => {
        if (!first && chunk.includes('pg_catalog.pg_type')) {
          typeReadsCut++;
          client.destroy();
          server.destroy();
          return;
        }
        server.write(chunk);
      });
      server.pipe(client);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const viaRelay = new URL(env.config.DATABASE_URL);
    viaRelay.port = String((relay.address() as AddressInfo).port);
    const unheard: unknown[] = [];
    const onUnhandled = (reason: unknown) => unheard.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const db = createDb(viaRelay.toString(), { max: 1 });
    try {
      const [backend] = await db.$client<{ pid: number }[]>`select pg_backend_pid() as pid`;
      // The outage: the backend goes, and the pool's next statement opens a connection of its own.
      await env.db.$client`select pg_terminate_backend(${backend!.pid})`;
      await expect.poll(() => sockets.size, { timeout: 5_000 }).toBe(0);
      const read = db.$client<{ tenants: string[] }[]>`select array['acme', 'globex']::text[] as tenants`;
      read.catch(() => {});
      // Asking again, the connection lost its first statement with the types read: it never answered.
      const answer = await Promise.race([read, new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 5_000))]);
      expect(answer).not.toBe('no answer');
      // Arrays still come back as arrays: the types read by the first connection serve the second.
      expect((answer as { tenants: string[] }[])[0]!.tenants).toEqual(['acme', 'globex']);
      expect(connections).toBe(2);
      expect(typeReadsCut).toBe(0);
      expect(unheard).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await closeDb(db);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    }
  });
});
