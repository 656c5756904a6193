import { Worker } from 'node:worker_threads';
import { FathomError } from '@fathom/core';

/** A worker that runs one search: a pattern that backtracks without end is stopped by terminating it. */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { text, source, flags, limit, cap } = workerData;
const pattern = new RegExp(source, flags);
const ranges = [];
let total = 0;
let match;
while ((match = pattern.exec(text)) !== null) {
  if (match[0] === '') { pattern.lastIndex++; continue; }
  total++;
  if (ranges.length < limit) ranges.push([match.index, match.index + match[0].length]);
  if (total >= cap) break;
}
parentPort.postMessage({ ranges, total });
`;

/** Throws a clear error unless `source` compiles with `flags`. */
export function checkPattern(source: string, flags: string): void {
  try {
    new RegExp(source, flags);
  } catch (error) {
    throw new FathomError('invalid_argument', `Not a valid regular expression: ${(error as Error).message}`, {
      hint: 'Fix the pattern, or search for plain text with regex: false.',
    });
  }
}

export interface MatchOptions {
  /** Ranges returned; `total` counts up to `cap`. */
  limit: number;
  cap: number;
  timeoutMs: number;
}

/**
 * Where `source` matches in `text`, off the server's thread and within a time limit: a regular
 * expression that takes super-linear time on the page's text is refused, never left running.
 */
export async function matchRanges(text: string, source: string, flags: string, options: MatchOptions): Promise<{ ranges: [number, number][]; total: number }> {
  checkPattern(source, flags);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { text, source, flags, limit: options.limit, cap: options.cap },
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(
        new FathomError('too_large', `The pattern /${source.length > 80 ? `${source.slice(0, 80)}…` : source}/ is too costly on this page: it did not finish within ${options.timeoutMs / 1000} s.`, {
          hint: 'Search for plain text (regex: false), or use a simpler pattern without nested repetition such as (a+)+.',
        }),
      );
    }, options.timeoutMs);
    worker.once('message', (result: { ranges: [number, number][]; total: number }) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    });
    const failed = (why: string) => {
      clearTimeout(timer);
      reject(new FathomError('internal', `The search failed: ${why}`, { hint: 'Try a plain-text search (regex: false).' }));
    };
    worker.once('error', (error) => failed(error.message));
    worker.once('exit', (code) => failed(`its worker stopped (exit code ${code})`));
  });
}
