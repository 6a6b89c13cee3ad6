import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { JWT_SECRET: 'a-secret-that-is-long-enough-for-hs256!!' };

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      PORT: 3000,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/herald',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: 'herald',
      SMTP_URL: 'smtp://127.0.0.1:1025',
      OUTBOUND_ALLOW_HOSTS: [],
      SERVICE_KEYS: {},
      LOG_LEVEL: 'info',
    });
    expect(config).toMatchObject({ BREAKER_FAILURES: 5, BREAKER_OPEN_MS: 60_000, OUTBOUND_TIMEOUT_MS: 10_000, SMTP_TIMEOUT_MS: 20_000 });
    expect(config.RETRY_BACKOFF_MS).toBeUndefined();
    expect(config.INTAKE_RATE_LIMIT).toBeUndefined();
    expect(config.NATS_URL).toBeUndefined();
    expect(config).toMatchObject({ RETENTION_DAYS: 90, DATABASE_POOL_SIZE: 10 });
    expect(config.REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it('parses the Redis Cluster seed nodes', () => {
    const config = loadConfig({ ...base, REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b.internal:7001,[::1]:7002' });
    expect(config.REDIS_CLUSTER_NODES).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b.internal', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  it.each([
    [{}, 'JWT_SECRET is required'],
    [{ ...base, PORT: 'eighty' }, 'PORT'],
    [{ ...base, DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ ...base, SERVICE_KEYS: '{not json' }, 'SERVICE_KEYS'],
    [{ ...base, SERVICE_KEYS: '{"short": ["acme"]}' }, 'SERVICE_KEYS keys must be at least 16 characters'],
    [{ ...base, SERVICE_KEYS: '{"0123456789abcdef": []}' }, 'SERVICE_KEYS'],
    [{ ...base, INTAKE_RATE_LIMIT: '-3' }, 'INTAKE_RATE_LIMIT'],
    [{ ...base, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ...base, REDIS_PREFIX: 'has space' }, 'REDIS_PREFIX'],
    [{ ...base, REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2' }, 'REDIS_CLUSTER_NODES must be comma-separated host:port'],
    [{ ...base, REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000' }, 'REDIS_CLUSTER_NODES'],
    [{ ...base, REDIS_CLUSTER_NODES: '10.0.0.1:99999' }, 'REDIS_CLUSTER_NODES'],
    [{ ...base, RETENTION_DAYS: '0' }, 'RETENTION_DAYS'],
    [{ ...base, DATABASE_POOL_SIZE: 'many' }, 'DATABASE_POOL_SIZE'],
  ])('stops with one line naming the variable (%#)', (env, name) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${name}`));
    try {
      loadConfig(env);
    } catch (err) {
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('parses service keys and the outbound allow list', () => {
    const config = loadConfig({ ...base, SERVICE_KEYS: '{"0123456789abcdef": ["*"]}', OUTBOUND_ALLOW_HOSTS: 'Localhost:8080, 127.0.0.1' });
    expect(config.SERVICE_KEYS).toEqual({ '0123456789abcdef': ['*'] });
    expect(config.OUTBOUND_ALLOW_HOSTS).toEqual(['localhost:8080', '127.0.0.1']);
  });
});
