import { describe, expect, it } from 'vitest';
import { defaultJobOptions, queueCatalog, type QueueKey } from '../../src/queues/catalog.ts';

/** SPEC §8.1: nothing Herald keeps in Redis grows without bound; finished jobs have a count limit. */
describe('queue keep limits', () => {
  it.each(Object.keys(queueCatalog) as QueueKey[])('%s keeps a bounded number of completed and failed jobs', (key) => {
    const options = defaultJobOptions(key);
    for (const keep of [options.removeOnComplete, options.removeOnFail]) {
      const bounded = keep === true || (typeof keep === 'number' && keep >= 0) || (typeof keep === 'object' && typeof keep.count === 'number' && keep.count > 0);
      expect(bounded, JSON.stringify(keep)).toBe(true);
    }
  });
});
