import { BrokenCircuitError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { createBreakerRegistry } from '../../src/outbound/breakers.ts';

const fail = async () => {
  throw new Error('receiver down');
};

async function failTimes(registry: ReturnType<typeof createBreakerRegistry>, key: string, times: number) {
  for (let i = 0; i < times; i++) await expect(registry.forDestination(key).execute(fail)).rejects.toThrow('receiver down');
}

describe('breaker registry', () => {
  it('opens after 5 consecutive failures on one host and leaves another host alone', async () => {
    const registry = createBreakerRegistry({ threshold: 5, openMs: 60_000 });
    await failTimes(registry, 'down.example.com', 4);
    expect(registry.openUntil('down.example.com')).toBeNull();

    const before = Date.now();
    await failTimes(registry, 'down.example.com', 1);
    const until = registry.openUntil('down.example.com');
    expect(until).toBeGreaterThanOrEqual(before + 60_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 60_000);
    await expect(registry.forDestination('down.example.com').execute(async () => 'sent')).rejects.toBeInstanceOf(BrokenCircuitError);

    expect(registry.openUntil('up.example.com')).toBeNull();
    await expect(registry.forDestination('up.example.com').execute(async () => 'sent')).resolves.toBe('sent');
  });

  it('keeps one URL’s breaker apart from another URL on the same host', async () => {
    const registry = createBreakerRegistry({ threshold: 5, openMs: 60_000 });
    await failTimes(registry, 'https://prod-12.westeurope.logic.azure.com/workflows/tenant-a/triggers/manual', 5);
    expect(registry.openUntil('https://prod-12.westeurope.logic.azure.com/workflows/tenant-a/triggers/manual')).not.toBeNull();
    expect(registry.openUntil('https://prod-12.westeurope.logic.azure.com/workflows/tenant-b/triggers/manual')).toBeNull();
  });

  it('resets the count on success', async () => {
    const registry = createBreakerRegistry({ threshold: 5, openMs: 60_000 });
    await failTimes(registry, 'flaky.example.com', 4);
    await registry.forDestination('flaky.example.com').execute(async () => 'sent');
    await failTimes(registry, 'flaky.example.com', 4);
    expect(registry.openUntil('flaky.example.com')).toBeNull();
  });

  it('lets a trial call through once the open period has passed, and closes on success', async () => {
    const registry = createBreakerRegistry({ threshold: 5, openMs: 50 });
    await failTimes(registry, 'back.example.com', 5);
    expect(registry.openUntil('back.example.com')).not.toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(registry.openUntil('back.example.com')).toBeNull();
    await expect(registry.forDestination('back.example.com').execute(async () => 'sent')).resolves.toBe('sent');
    expect(registry.openUntil('back.example.com')).toBeNull();
  });
});
