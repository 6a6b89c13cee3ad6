import { expect, it } from 'vitest';
import { chunksOf } from '../src/chunks.ts';

it('cuts a list in order into chunks of the size given, the last one shorter, and an empty list into none', () => {
  expect(chunksOf([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  expect(chunksOf([1, 2, 3, 4], 2)).toEqual([[1, 2], [3, 4]]);
  expect(chunksOf([], 3)).toEqual([]);
});
