import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

const base = { JWT_SECRET: 'a-secret-that-is-long-enough-for-hs256!!', SERVICE_KEYS: '{"bus-key-0123456789abcdef": ["acme"]}' };

describe('bus configuration', () => {
  it('has defaults that match the README', () => {
    expect(loadConfig(base)).toMatchObject({
      NATS_STREAM: 'HERALD',
      NATS_SUBJECT: 'herald.events.>',
      NATS_DURABLE: 'herald-bus',
      NATS_DEAD_SUBJECT: 'herald.dead',
      BUS_CLAIM_IDLE_MS: 30_000,
    });
    expect(loadConfig(base).BUS_DEFAULT_KEY).toBeUndefined();
    expect(loadConfig({ ...base, BUS_DEFAULT_KEY: 'bus-key-0123456789abcdef' }).BUS_DEFAULT_KEY).toBe('bus-key-0123456789abcdef');
  });

  it.each([
    [{ BUS_DEFAULT_KEY: 'not-one-of-the-service-keys' }, 'BUS_DEFAULT_KEY must be one of the keys in SERVICE_KEYS'],
    [{ BUS_CLAIM_IDLE_MS: '5' }, 'BUS_CLAIM_IDLE_MS'],
    [{ NATS_STREAM: 'has.dots' }, 'NATS_STREAM'],
    [{ NATS_SUBJECT: 'herald.>.events' }, 'NATS_SUBJECT'],
    [{ NATS_DURABLE: 'a b' }, 'NATS_DURABLE'],
  ])('stops with one line naming the variable (%#)', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(new RegExp(`^Invalid configuration: ${message}`));
  });

  it('never prints the key it refused', () => {
    expect(() => loadConfig({ ...base, BUS_DEFAULT_KEY: 'secret-looking-key-value' })).toThrow(/^(?!.*secret-looking-key-value)/);
  });
});
