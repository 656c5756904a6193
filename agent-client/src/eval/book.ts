import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FathomError } from '@fathom/core';
import { CHART_FILE, renderScalingChart } from '../chart.js';
import { SUMMARY_FILE, renderSummary } from './report.js';
import { RESULTS_FILE, compactResults, currentLines, dropPartialLine, isCorrect, runKey, tracePathFor } from './resume.js';
import { skippedRuns } from './schedule.js';
import { summarize } from './stats.js';
import type { EvalReport } from './stats.js';
import type { EvalOptions, EvalProgress, ResultLine, WorkerLoad } from './types.js';

export type BookOptions = Pick<EvalOptions, 'tasks' | 'runs' | 'outDir' | 'judge' | 'earlyStop'>;

/**
 * An eval's record in its output folder: results.jsonl (one line per run, resumed from), the
 * traces, the progress figures and, at the end, summary.md and the chart. Whoever runs the runs
 * (this process, or workers on a queue), the book alone writes, and a run is written once.
 */
export class EvalBook {
  readonly finished: Map<string, ResultLine>;
  readonly resultsPath: string;
  private readonly started = Date.now();
  private readonly total: number;
  private readonly resumed: number;
  private fresh = 0;

  constructor(private readonly options: BookOptions) {
    if (!Number.isInteger(options.runs) || options.runs < 1) throw new FathomError('invalid_argument', 'runs must be a positive integer');
    const ids = new Set<string>();
    for (const task of options.tasks) {
      if (ids.has(task.task_id)) throw new FathomError('invalid_argument', `duplicate task_id "${task.task_id}"`);
      ids.add(task.task_id);
    }
    this.resultsPath = join(options.outDir, RESULTS_FILE);
    mkdirSync(join(options.outDir, 'traces'), { recursive: true });
    dropPartialLine(this.resultsPath);
    this.finished = compactResults(this.resultsPath, (line) => ids.has(line.task_id) && line.run <= options.runs);
    this.total = options.tasks.length * options.runs;
    this.resumed = this.lines().length;
  }

  /** Whether the run has its line. */
  has(taskId: string, run: number): boolean {
    return this.finished.has(runKey(taskId, run));
  }

  /**
   * Writes a run's line (and its trace, when given as bytes); false, writing nothing, when the run
   * already has one: a run finished twice counts once.
   */
  record(line: ResultLine, trace?: Buffer): boolean {
    const id = runKey(line.task_id, line.run);
    if (this.finished.has(id)) return false;
    if (trace) writeFileSync(join(this.options.outDir, tracePathFor(line.task_id, line.run)), trace);
    appendFileSync(this.resultsPath, JSON.stringify(line) + '\n');
    this.finished.set(id, line);
    this.fresh++;
    return true;
  }

  lines(): ResultLine[] {
    return currentLines(this.finished, this.options.tasks, this.options.runs);
  }

  progress(running: number, last?: ResultLine, workers?: WorkerLoad[]): EvalProgress {
    const lines = this.lines();
    const done = lines.filter((line) => line.status !== 'error');
    const scored = done.filter((line) => line.correct !== null);
    const skipped = this.options.earlyStop ? skippedRuns(this.finished, this.options.tasks, this.options.runs) : 0;
    const elapsedMs = Date.now() - this.started;
    const left = this.total - lines.length - skipped;
    return {
      done: lines.length + skipped,
      total: this.total,
      resumed: this.resumed,
      running,
      scored: scored.length,
      correct: scored.filter(isCorrect).length,
      failures: done.filter((line) => line.status === 'no_answer').length,
      errors: lines.length - done.length,
      skipped,
      elapsedMs,
      ...(this.fresh > 0 && left > 0 ? { etaMs: (elapsedMs / this.fresh) * left } : {}),
      ...(last ? { last } : {}),
      ...(workers ? { workers } : {}),
    };
  }

  /** Writes summary.md and the interaction-scaling chart. */
  finish(): EvalReport {
    const { tasks, runs, judge, earlyStop, outDir } = this.options;
    const summary = summarize(this.lines(), tasks, runs, judge, earlyStop);
    writeFileSync(join(outDir, CHART_FILE), renderScalingChart(summary.scaling, { judged: summary.judged !== undefined }));
    const markdown = renderSummary(summary);
    writeFileSync(join(outDir, SUMMARY_FILE), markdown);
    return { ...summary, markdown };
  }
}
