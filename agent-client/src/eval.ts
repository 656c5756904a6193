import { FathomError } from '@fathom/core';
import { EvalBook } from './eval/book.js';
import { runKey } from './eval/resume.js';
import { nextJob, runJob } from './eval/schedule.js';
import type { EvalReport } from './eval/stats.js';
import type { EvalOptions, EvalTask } from './eval/types.js';

// fathom eval: the tasks file (eval/tasks.ts), the resume store results.jsonl (eval/resume.ts),
// the runs under their time limits (eval/schedule.ts), the statistics (eval/stats.ts) and the
// summary and progress lines (eval/report.ts), put together by runEval.
export type { EvalOptions, EvalProgress, EvalTask, FailureKind, ResultLine, RunContext, RunStatus, RunTask, TaskResult } from './eval/types.js';
export { readTasks } from './eval/tasks.js';
export type { ReadTasksOptions } from './eval/tasks.js';
export { RESULTS_FILE, isCorrect, readResults, tracePathFor } from './eval/resume.js';
export { passAtK, summarize } from './eval/stats.js';
export type { EvalReport, EvalSummary, LevelSummary, Rate, Stat } from './eval/stats.js';
export { SUMMARY_FILE, progressLine, progressRecord, renderSummary } from './eval/report.js';

/**
 * Runs every (task, run) not finished in results.jsonl, `concurrency` at a time, then writes
 * summary.md and the interaction-scaling chart. Runs that ended in error before are run again.
 */
export async function runEval(options: EvalOptions): Promise<EvalReport> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new FathomError('invalid_argument', 'concurrency must be a positive integer');
  if (!(options.timeLimitMs > 0)) throw new FathomError('invalid_argument', 'timeLimitMs must be positive (Infinity for none)');
  const book = new EvalBook(options);
  const inFlight = new Set<string>();
  options.onProgress?.(book.progress(0));

  const stopped = () => options.signal?.aborted === true || options.cancelRunning?.aborted === true;
  const running = new Set<Promise<void>>();
  const launch = (job: { task: EvalTask; run: number }) => {
    const id = runKey(job.task.task_id, job.run);
    inFlight.add(id);
    const work = runJob(job.task, job.run, options).then((line) => {
      inFlight.delete(id);
      if (!line) return;
      book.record(line);
      options.onProgress?.(book.progress(inFlight.size, line));
    });
    const tracked: Promise<void> = work.finally(() => running.delete(tracked));
    running.add(tracked);
  };
  while (!stopped()) {
    while (running.size < options.concurrency && !stopped()) {
      const job = nextJob(options, book.finished, inFlight);
      if (!job) break;
      launch(job);
    }
    if (!running.size) break;
    await Promise.race(running);
  }
  await Promise.all(running);
  return book.finish();
}
