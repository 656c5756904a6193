import { parentPort } from 'node:worker_threads';
import { isFathomError } from '@fathom/core';
import { convert } from './convert/index.js';
import type { ConvertInput, ConvertOptions } from './convert/types.js';
import { matchRanges, searchSections } from './search.js';
import type { MatchRequest, SearchRequest } from './search.js';

export type Job =
  | { kind: 'convert'; input: ConvertInput; options: Partial<ConvertOptions> }
  | { kind: 'search'; request: SearchRequest }
  | { kind: 'match'; request: MatchRequest };

export type JobReply =
  | { ok: true; value: unknown }
  | { ok: false; error: { code: string; message: string; hint?: string } };

parentPort?.on('message', async ({ id, job }: { id: number; job: Job }) => {
  let reply: JobReply;
  try {
    const value =
      job.kind === 'convert'
        ? await convert(job.input, job.options)
        : job.kind === 'search'
          ? searchSections(job.request)
          : matchRanges(job.request);
    reply = { ok: true, value };
  } catch (error) {
    reply = isFathomError(error)
      ? { ok: false, error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } }
      : { ok: false, error: { code: 'internal', message: error instanceof Error ? error.message : String(error) } };
  }
  parentPort?.postMessage({ id, reply });
});

// The modules above are loaded: jobs' time limits start from here (see WorkerPool).
parentPort?.postMessage({ ready: true });
