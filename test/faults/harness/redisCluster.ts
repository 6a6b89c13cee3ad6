import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, stopChild, tail, trackChild, waitUntil } from './processes.ts';

const run = promisify(execFile);

export type RedisCluster = {
  /** `host:port,…` of every master: the value of REDIS_CLUSTER_NODES. */
  nodes: string;
  ports: number[];
  /** Stops one master (SIGTERM); its slots are unserved until it is started again. */
  stopNode(index: number): Promise<void>;
  /** Starts a stopped master again: same port, same node id (nodes.conf), no data. */
  startNode(index: number): Promise<void>;
  /** Stops every node and removes their files; safe to call twice. */
  close(): Promise<void>;
};

/** Failure detection time of the throwaway cluster: short, so a fault test sees a master go down within seconds. */
const NODE_TIMEOUT_MS = 2_000;

async function clusterState(port: number): Promise<string> {
  const client = new Redis(port, '127.0.0.1', { lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return /cluster_state:(\w+)/.exec(String(await client.cluster('INFO')))?.[1] ?? 'unknown';
  } catch {
    return 'unreachable';
  } finally {
    client.disconnect();
  }
}

/**
 * A Redis Cluster of three masters and no replicas, from the machine's redis-server and
 * redis-cli, on spare ports (client and cluster-bus ports both chosen, so nothing collides with
 * port+10000) under a fresh temp directory. Resolves once every node reports cluster_state:ok.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-cluster-'));
  const ports: number[] = [];
  const busPorts: number[] = [];
  // Chosen one after another and held in a set: two calls to freePort may hand out the same port.
  while (ports.length + busPorts.length < masters * 2) {
    const port = await freePort();
    if (ports.includes(port) || busPorts.includes(port)) continue;
    (ports.length < masters ? ports : busPorts).push(port);
  }
  const children: (ChildProcess | null)[] = ports.map(() => null);
  const logs: string[] = ports.map(() => '');
  let closed = false;

  async function startNode(index: number): Promise<void> {
    if (children[index]) return;
    const port = ports[index]!;
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    logs[index] = '';
    // prettier-ignore
    const child = trackChild(spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(busPorts[index]),
      '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      '--save', '', '--appendonly', 'no', '--dir', nodeDir, '--daemonize', 'no',
    ], { stdio: ['ignore', 'pipe', 'pipe'] }));
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => (logs[index] = tail(logs[index] + chunk.toString())));
    children[index] = child;
    child.once('exit', () => {
      if (children[index] === child) children[index] = null;
    });
    await waitUntil(
      async () => {
        if (children[index] !== child) throw new Error(`redis-server on port ${port} exited at start:\n${logs[index]}`);
        return (await clusterState(port)) !== 'unreachable';
      },
      15_000,
      `redis-server (cluster node) on port ${port}`,
    );
  }

  async function stopNode(index: number): Promise<void> {
    const child = children[index];
    children[index] = null;
    if (child) await stopChild(child, 'SIGTERM', 10_000);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await Promise.allSettled(ports.map((_, i) => stopNode(i)));
    rmSync(dir, { recursive: true, force: true });
  }

  const allOk = async () => (await Promise.all(ports.map(clusterState))).every((state) => state === 'ok');
  try {
    await Promise.all(ports.map((_, i) => startNode(i)));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await waitUntil(allOk, 30_000, 'the Redis Cluster to report cluster_state:ok', 200);
  } catch (err) {
    await close();
    throw err;
  }

  return {
    nodes: ports.map((port) => `127.0.0.1:${port}`).join(','),
    ports,
    stopNode,
    async startNode(index) {
      await startNode(index);
      await waitUntil(allOk, 30_000, 'the Redis Cluster to report cluster_state:ok again', 200);
    },
    close,
  };
}
