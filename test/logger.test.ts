import { expect, it } from 'vitest';
import { lazyChild } from '../src/logger.ts';
import { capturedLog } from './helpers/capturedLog.ts';

it('a lazy child makes its bindings only for a line at an enabled level, and only once', () => {
  const { logger, lines } = capturedLog('info');
  let made = 0;
  const log = lazyChild(logger, () => {
    made++;
    return { jobId: 'job_1' };
  });

  log.debug({ detail: 'x' }, 'below the level');
  expect(made).toBe(0);
  expect(lines).toEqual([]);

  log.info('first');
  log.error({ rule: { secret: 'whsec_x' } }, 'second');
  expect(made).toBe(1);
  expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
    expect.objectContaining({ msg: 'first', jobId: 'job_1', level: 30 }),
    expect.objectContaining({ msg: 'second', jobId: 'job_1', level: 50, rule: { secret: '[redacted]' } }),
  ]);
});
