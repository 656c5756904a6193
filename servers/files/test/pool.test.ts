import { createLogger, isFathomError } from '@fathom/core';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerPool } from '../src/pool.js';

const logger = createLogger('pool-test', { level: 'silent' });
const match = (text: string, source: string) => ({ kind: 'match' as const, request: { text, source, flags: 'gi', limit: 10, cap: 100 } });

describe('WorkerPool', () => {
  let pool: WorkerPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("counts a job's time limit from when its worker is ready, not from the worker's start-up", async () => {
    // A new worker loads every converter first (seconds on a loaded machine); the job itself takes a millisecond.
    pool = new WorkerPool({ size: 1, logger });
    const found = await pool.run<{ total: number }>(match('312 ships in 1897', '312\\s+ships'), 200, 'a short text');
    expect(found.total).toBe(1);
  });

  it('still stops a job that runs past its limit, and the next job gets a fresh worker', async () => {
    pool = new WorkerPool({ size: 1, logger });
    await pool.run(match('warm', 'warm'), 60_000, 'warming up');
    const costly = await pool.run(match(`${'a'.repeat(40)}!`, '(a+)+$'), 300, 'a costly pattern').catch((error: unknown) => error);
    expect(isFathomError(costly, 'timeout')).toBe(true);
    expect((await pool.run<{ total: number }>(match('harbour', 'harb'), 200, 'after a replacement')).total).toBe(1);
  });
});
