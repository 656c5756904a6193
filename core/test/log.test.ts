import { describe, expect, it } from 'vitest';
import { FathomError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { LogLevel } from '../src/log.js';

function capture(level: LogLevel) {
  const lines: string[] = [];
  const logger = createLogger('test', { level, write: (line) => lines.push(line) });
  return { logger, entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes one JSON object per line with time, level, logger, message and fields', () => {
    const { logger, entries } = capture('debug');
    logger.info('hello', { port: 8931 });
    const [entry] = entries();
    expect(entry).toMatchObject({ level: 'info', logger: 'test', msg: 'hello', port: 8931 });
    expect(Date.parse(String(entry!.time))).not.toBeNaN();
  });

  it('drops entries below its level, and silent drops everything', () => {
    const warn = capture('warn');
    warn.logger.debug('a');
    warn.logger.info('b');
    warn.logger.warn('c');
    warn.logger.error('d');
    expect(warn.entries().map((entry) => entry.msg)).toEqual(['c', 'd']);
    const silent = capture('silent');
    silent.logger.error('nothing');
    expect(silent.entries()).toEqual([]);
  });

  it('serializes errors with their code and names children after their parent', () => {
    const { logger, entries } = capture('info');
    logger.child('net').error('failed', { error: new FathomError('timeout', 'too slow') });
    expect(entries()[0]).toMatchObject({ logger: 'test.net', error: { message: 'too slow', code: 'timeout' } });
  });
});
