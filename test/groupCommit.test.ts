import { describe, expect, it } from 'vitest';
import { createGroupCommitter } from '../src/groupCommit.ts';

/** A flush that records the groups it was given and doubles each item, failing on any negative one. */
function doubling() {
  const groups: number[][] = [];
  const flush = async (items: number[]) => {
    groups.push(items);
    await new Promise((resolve) => setTimeout(resolve, 5));
    if (items.some((n) => n < 0)) throw new Error(`cannot double ${items.filter((n) => n < 0).join(', ')}`);
    return items.map((n) => n * 2);
  };
  return { groups, flush };
}

describe('createGroupCommitter', () => {
  it('flushes the first item at once and the items that arrive meanwhile as one group, each getting its own result', async () => {
    const { groups, flush } = doubling();
    const submit = createGroupCommitter(flush);
    const results = await Promise.all([1, 2, 3, 4].map(async (n) => (await submit([n]))[0]));
    expect(results).toEqual([2, 4, 6, 8]);
    expect(groups).toEqual([[1], [2, 3, 4]]);
  });

  it('keeps groups within maxBatch', async () => {
    const { groups, flush } = doubling();
    const submit = createGroupCommitter(flush, { maxBatch: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => submit([n])));
    expect(groups).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('fails every item of a failed group, unless told to isolate failures', async () => {
    const { flush } = doubling();
    const submit = createGroupCommitter(flush);
    const outcomes = await Promise.allSettled([1, 2, -3, 4].map((n) => submit([n])));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
  });

  it('with isolateFailures, retries each item of a failed group alone: only the poison item fails', async () => {
    const { groups, flush } = doubling();
    const submit = createGroupCommitter(flush, { isolateFailures: true });
    const outcomes = await Promise.allSettled([1, 2, -3, 4].map(async (n) => (await submit([n]))[0]));
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: 4 },
      { status: 'rejected', reason: new Error('cannot double -3') },
      { status: 'fulfilled', value: 8 },
    ]);
    expect(groups).toEqual([[1], [2, -3, 4], [2], [-3], [4]]);
  });

  it('each: items submitted together go in one flush, even to an idle committer, and each settles on its own', async () => {
    const { groups, flush } = doubling();
    const submit = createGroupCommitter(flush, { isolateFailures: true });
    const outcomes = await Promise.allSettled(submit.each([1, 2, -3, 4]));
    expect(outcomes).toEqual([
      { status: 'fulfilled', value: 2 },
      { status: 'fulfilled', value: 4 },
      { status: 'rejected', reason: new Error('cannot double -3') },
      { status: 'fulfilled', value: 8 },
    ]);
    // Submitted one by one instead, the first would have gone alone (see above).
    expect(groups).toEqual([[1, 2, -3, 4], [1], [2], [-3], [4]]);
  });

  it('with flushers, runs that many flushes at once and groups what arrives while all are busy', async () => {
    const { groups, flush } = doubling();
    let inFlight = 0;
    let most = 0;
    const counting = async (items: number[]) => {
      most = Math.max(most, ++inFlight);
      try {
        return await flush(items);
      } finally {
        inFlight--;
      }
    };
    const submit = createGroupCommitter(counting, { flushers: 2 });
    const results = await Promise.all([1, 2, 3, 4, 5].map(async (n) => (await submit([n]))[0]));
    expect(results).toEqual([2, 4, 6, 8, 10]);
    expect(groups).toEqual([[1], [2], [3, 4, 5]]);
    expect(most).toBe(2);
  });

  it('with lingerMs, holds the first item that long so that what arrives meanwhile goes with it', async () => {
    const { groups, flush } = doubling();
    const submit = createGroupCommitter(flush, { lingerMs: 30 });
    const first = submit([1]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(groups).toEqual([]);
    const results = await Promise.all([first, submit([2]), submit([3])]);
    expect(results).toEqual([[2], [4], [6]]);
    expect(groups).toEqual([[1, 2, 3]]);
    // Once idle again, the next item lingers anew rather than going at once.
    const later = submit([4]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(groups).toHaveLength(1);
    expect(await later).toEqual([8]);
    expect(groups).toEqual([[1, 2, 3], [4]]);
  });
});
