import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FathomError } from '@fathom/core';
import { CHART_FILE, renderScalingChart } from './chart.js';
import { SUMMARY_FILE, renderSummary } from './eval/report.js';
import { RESULTS_FILE, compactResults, currentLines, dropPartialLine, isCorrect, runKey } from './eval/resume.js';
import { nextJob, runJob, skippedRuns } from './eval/schedule.js';
import { summarize } from './eval/stats.js';
import type { EvalReport } from './eval/stats.js';
import type { EvalOptions, EvalProgress, EvalTask, ResultLine } from './eval/types.js';

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
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new FathomError('invalid_argument', 'runs must be a positive integer');
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new FathomError('invalid_argument', 'concurrency must be a positive integer');
  if (!(options.timeLimitMs > 0)) throw new FathomError('invalid_argument', 'timeLimitMs must be positive (Infinity for none)');
  const ids = new Set<string>();
  for (const task of options.tasks) {
    if (ids.has(task.task_id)) throw new FathomError('invalid_argument', `duplicate task_id "${task.task_id}"`);
    ids.add(task.task_id);
  }
  const resultsPath = join(options.outDir, RESULTS_FILE);
  mkdirSync(join(options.outDir, 'traces'), { recursive: true });
  dropPartialLine(resultsPath);
  const finished = compactResults(resultsPath, (line) => ids.has(line.task_id) && line.run <= options.runs);

  const started = Date.now();
  const total = options.tasks.length * options.runs;
  const resumed = currentLines(finished, options.tasks, options.runs).length;
  const inFlight = new Set<string>();
  let fresh = 0;
  const progress = (last?: ResultLine): EvalProgress => {
    const lines = currentLines(finished, options.tasks, options.runs);
    const done = lines.filter((line) => line.status !== 'error');
    const scored = done.filter((line) => line.correct !== null);
    const skipped = options.earlyStop ? skippedRuns(finished, options.tasks, options.runs) : 0;
    const elapsedMs = Date.now() - started;
    const left = total - lines.length - skipped;
    return {
      done: lines.length + skipped,
      total,
      resumed,
      running: inFlight.size,
      scored: scored.length,
      correct: scored.filter(isCorrect).length,
      failures: done.filter((line) => line.status === 'no_answer').length,
      errors: lines.length - done.length,
      skipped,
      elapsedMs,
      ...(fresh > 0 && left > 0 ? { etaMs: (elapsedMs / fresh) * left } : {}),
      ...(last ? { last } : {}),
    };
  };
  options.onProgress?.(progress());

  const stopped = () => options.signal?.aborted === true || options.cancelRunning?.aborted === true;
  const running = new Set<Promise<void>>();
  const launch = (job: { task: EvalTask; run: number }) => {
    const id = runKey(job.task.task_id, job.run);
    inFlight.add(id);
    const work = runJob(job.task, job.run, options).then((line) => {
      inFlight.delete(id);
      if (!line) return;
      appendFileSync(resultsPath, JSON.stringify(line) + '\n');
      finished.set(id, line);
      fresh++;
      options.onProgress?.(progress(line));
    });
    const tracked: Promise<void> = work.finally(() => running.delete(tracked));
    running.add(tracked);
  };
  while (!stopped()) {
    while (running.size < options.concurrency && !stopped()) {
      const job = nextJob(options, finished, inFlight);
      if (!job) break;
      launch(job);
    }
    if (!running.size) break;
    await Promise.race(running);
  }
  await Promise.all(running);

  const summary = summarize(currentLines(finished, options.tasks, options.runs), options.tasks, options.runs, options.judge, options.earlyStop);
  writeFileSync(join(options.outDir, CHART_FILE), renderScalingChart(summary.scaling, { judged: summary.judged !== undefined }));
  const markdown = renderSummary(summary);
  writeFileSync(join(options.outDir, SUMMARY_FILE), markdown);
  return { ...summary, markdown };
}
