import net from 'node:net';

/** What one process sent to Postgres: round trips (each Sync, and each simple Query) and executions by statement text. */
export type PostgresTraffic = { roundTrips: number; executions: Record<string, number> };

type SocketState = {
  typed: boolean;
  header: Buffer;
  /** Body bytes still to read into `body` (of a Parse, Bind or Query), then to skip. */
  want: number;
  body: Buffer[];
  skip: number;
  type: number;
  /** Statement texts, shortened, by prepared-statement name ('' is the unnamed one). */
  prepared: Map<string, string>;
};

const SSL_REQUEST = 80877103;
const CANCEL_REQUEST = 80877102;
const [PARSE, BIND, SIMPLE_QUERY, SYNC] = ['P', 'B', 'Q', 'S'].map((c) => c.charCodeAt(0));
/** A Bind's names come first; its parameters (a fan-out's 10,000-row JSON) are skipped. */
const BIND_PREFIX = 512;
const TEXT_MAX = 64 * 1024;

function cString(bytes: Buffer, from: number): [string, number] {
  const end = bytes.indexOf(0, from);
  const stop = end < 0 ? bytes.length : end;
  return [bytes.toString('utf8', from, stop), stop + 1];
}

const shortText = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 160);

/**
 * Counts what this process sends to Postgres at `port`, read from the frontend messages its
 * sockets write: a Sync ends each exchange of the extended protocol (postgres.js sends one per
 * query, pipelined or not) and a Query is one of the simple protocol, so together they are the
 * round trips; Binds and Queries, by statement text, say which statements ran. bench/child.ts
 * installs it in every child, so a scenario can count per role exactly — pg_stat_database's
 * transactions also hold autovacuum's, and show a backend's only once it reports them.
 * Plain TCP only: a TLS connection's bytes would not parse.
 */
export function countPostgresTraffic(port: number): () => PostgresTraffic {
  const traffic: PostgresTraffic = { roundTrips: 0, executions: {} };
  const states = new WeakMap<net.Socket, SocketState>();
  const executed = (key: string) => {
    traffic.executions[key] = (traffic.executions[key] ?? 0) + 1;
  };

  // A statement's text is shortened once, when it is parsed: a Bind (every execution) only looks
  // it up. Shortening a routing pass's statement of several KB at every Bind made the counter
  // itself the largest allocator in the router — a bench cost charged to Herald's processes only.
  function handle(state: SocketState, body: Buffer): void {
    if (state.type === PARSE) {
      const [name, next] = cString(body, 0);
      state.prepared.set(name, shortText(cString(body, next)[0]));
    } else if (state.type === BIND) {
      const [, next] = cString(body, 0);
      executed(state.prepared.get(cString(body, next)[0]) ?? '(unknown statement)');
    } else executed(shortText(cString(body, 0)[0]));
  }

  /** Walks the messages of one write; a header or body may continue in the next write. */
  function scan(socket: net.Socket, bytes: Buffer): void {
    let state = states.get(socket);
    if (!state) states.set(socket, (state = { typed: false, header: Buffer.alloc(0), want: 0, body: [], skip: 0, type: 0, prepared: new Map() }));
    let at = 0;
    while (at < bytes.length) {
      if (state.want > 0) {
        const n = Math.min(state.want, bytes.length - at);
        state.body.push(bytes.subarray(at, at + n));
        state.want -= n;
        at += n;
        if (state.want === 0) handle(state, Buffer.concat(state.body.splice(0)));
        continue;
      }
      if (state.skip > 0) {
        const n = Math.min(state.skip, bytes.length - at);
        state.skip -= n;
        at += n;
        continue;
      }
      // Untyped (startup, SSL and cancel requests): length, then a code. Typed: a type byte, then length.
      const headerLength = state.typed ? 5 : 8;
      const take = Math.min(headerLength - state.header.length, bytes.length - at);
      state.header = Buffer.concat([state.header, bytes.subarray(at, at + take)]);
      at += take;
      if (state.header.length < headerLength) return;
      const header = state.header;
      state.header = Buffer.alloc(0);
      if (!state.typed) {
        const code = header.readInt32BE(4);
        state.typed = code !== SSL_REQUEST && code !== CANCEL_REQUEST;
        state.skip = header.readInt32BE(0) - 8;
        continue;
      }
      const type = header[0]!;
      const bodyLength = header.readInt32BE(1) - 4;
      if (type === SYNC || type === SIMPLE_QUERY) traffic.roundTrips++;
      if (type === PARSE || type === BIND || type === SIMPLE_QUERY) {
        state.type = type;
        state.want = Math.min(bodyLength, type === BIND ? BIND_PREFIX : TEXT_MAX);
        state.skip = bodyLength - state.want;
        if (state.want === 0) handle(state, Buffer.alloc(0));
      } else state.skip = bodyLength;
    }
  }

  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
    if (this.remotePort === port && chunk instanceof Uint8Array) scan(this, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    return (write as (...args: unknown[]) => boolean).apply(this, [chunk, ...rest]);
  } as typeof write;
  return () => traffic;
}
