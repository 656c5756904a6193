import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { FathomError, errorMessage } from '@fathom/core';
import { judgeAnswer, scoreAnswer } from '../score.js';
import { isCorrect, runKey, tracePathFor } from './resume.js';
import type { EvalOptions, EvalTask, FailureKind, ResultLine, RunStatus, TaskResult } from './types.js';

/**
 * The next run to start: runs in order of run number, then task. With early stop a task's runs go
 * one after another, and none starts once one of them was correct.
 */
export function nextJob(options: Pick<EvalOptions, 'tasks' | 'runs' | 'earlyStop'>, finished: Map<string, ResultLine>, inFlight: Set<string>): { task: EvalTask; run: number } | undefined {
  for (let run = 1; run <= options.runs; run++) {
    for (const task of options.tasks) {
      const id = runKey(task.task_id, run);
      if (finished.has(id) || inFlight.has(id)) continue;
      if (options.earlyStop && !earlierRunsAllow(task, run, finished)) continue;
      return { task, run };
    }
  }
  return undefined;
}

/** Early stop: run `run` may start once every earlier run of the task has ended and none was correct. */
function earlierRunsAllow(task: EvalTask, run: number, finished: Map<string, ResultLine>): boolean {
  for (let earlier = 1; earlier < run; earlier++) {
    const line = finished.get(runKey(task.task_id, earlier));
    if (!line || isCorrect(line)) return false;
  }
  return true;
}

/** Runs early stop made unnecessary: those after a task's first correct run that were not made. */
export function skippedRuns(finished: Map<string, ResultLine>, tasks: EvalTask[], runs: number): number {
  let skipped = 0;
  for (const task of tasks) {
    const first = firstCorrectRun(task.task_id, finished, runs);
    if (first === undefined) continue;
    for (let run = first + 1; run <= runs; run++) if (!finished.has(runKey(task.task_id, run))) skipped++;
  }
  return skipped;
}

function firstCorrectRun(taskId: string, finished: Map<string, ResultLine>, runs: number): number | undefined {
  for (let run = 1; run <= runs; run++) {
    const line = finished.get(runKey(taskId, run));
    if (line && isCorrect(line)) return run;
  }
  return undefined;
}

/** setTimeout fires at once beyond this (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Settled = { result: TaskResult } | { thrown: unknown } | { abandoned: true };

/**
 * What a run came to before it is scored: what a queue worker sends back to the eval. `result` is
 * absent when the run threw (`thrown`) or did not return in time after its signal.
 */
export interface RunOutcome {
  result?: TaskResult;
  thrown?: string;
  timedOut: boolean;
  ms: number;
}

export type ExecuteOptions = Pick<EvalOptions, 'runTask' | 'timeLimitMs' | 'graceMs' | 'cancelRunning'>;

/** One run under its time limit, its trace written to `tracePath`; undefined when cancelled, so that it runs again on resume. */
export async function executeRun(task: EvalTask, run: number, tracePath: string, options: ExecuteOptions): Promise<RunOutcome | undefined> {
  rmSync(tracePath, { force: true });
  const controller = new AbortController();
  let timedOut = false;
  let cancelled = false;
  const timer = Number.isFinite(options.timeLimitMs)
    ? setTimeout(() => {
        timedOut = true;
        controller.abort(new FathomError('timeout', 'time limit'));
      }, Math.min(options.timeLimitMs, MAX_TIMER_MS))
    : undefined;
  const cancel = () => {
    cancelled = true;
    controller.abort(new FathomError('cancelled', 'eval cancelled'));
  };
  options.cancelRunning?.addEventListener('abort', cancel, { once: true });
  const started = Date.now();
  let settled: Settled;
  try {
    const work = new Promise<TaskResult>((resolve) => resolve(options.runTask(task, run, { tracePath, signal: controller.signal })));
    settled = await settleWithGrace(work, controller.signal, options.graceMs ?? 10_000);
  } finally {
    clearTimeout(timer);
    options.cancelRunning?.removeEventListener('abort', cancel);
  }
  const ms = Date.now() - started;
  if (cancelled && !timedOut && !('result' in settled && settled.result.answer !== undefined && !settled.result.error)) return undefined;
  return {
    ...('result' in settled ? { result: settled.result } : {}),
    ...('thrown' in settled ? { thrown: errorMessage(settled.thrown) } : {}),
    timedOut,
    ms,
  };
}

/** How an outcome ended: an error (not scored, run again on resume) or a finished run. */
export function classify(outcome: RunOutcome): { status: RunStatus; failure?: FailureKind; error?: string } {
  const result = outcome.result;
  if (outcome.timedOut) return { status: 'no_answer', failure: 'time limit', error: 'time limit' };
  if (outcome.thrown !== undefined) return { status: 'error', failure: 'crash', error: outcome.thrown };
  if (!result) return { status: 'error', failure: 'crash', error: 'the run did not return after it was stopped' };
  if (result.error || result.stop === 'model_error') return { status: 'error', failure: 'model error', error: result.error ?? 'the model failed' };
  if (result.answer === undefined || !result.answer.trim()) return { status: 'no_answer', failure: 'no answer' };
  return { status: 'answered' };
}

/** The results line of an outcome: classified, scored against the task's answer, and judged when a judge is set. */
export async function resultLine(task: EvalTask, run: number, outcome: RunOutcome, options: Pick<EvalOptions, 'judge' | 'cancelRunning'>): Promise<ResultLine> {
  const result: TaskResult = outcome.result ?? { turns: 0, toolCalls: 0, tokens: 0, ms: outcome.ms };
  const { status, failure, error } = classify(outcome);
  const truth = task.answer ?? null;
  const correct = truth === null || status === 'error' ? null : scoreAnswer(result.answer, truth);
  const line: ResultLine = {
    task_id: task.task_id,
    run,
    status,
    answer: result.answer ?? null,
    truth,
    correct,
    ...(task.level !== undefined ? { level: task.level } : {}),
    turns: result.turns,
    tool_calls: result.toolCalls,
    tokens: result.tokens,
    ms: result.ms || outcome.ms,
    ...(result.attempts !== undefined ? { attempts: result.attempts } : {}),
    ...(error ? { error } : {}),
    ...(failure ? { failure } : {}),
    ...(result.stop ? { stop: result.stop } : {}),
    trace: tracePathFor(task.task_id, run),
  };
  if (options.judge && truth !== null && status !== 'error') {
    const verdict = correct ? { correct: true } : await judgeAnswer(task.question, result.answer, truth, options.judge, options.cancelRunning);
    if (verdict.correct !== undefined) line.judged = verdict.correct;
    if ('reason' in verdict && verdict.reason) line.judge_reason = verdict.reason;
  }
  return line;
}

/** One run under its time limit, scored; undefined when cancelled, so that it runs again on resume. */
export async function runJob(task: EvalTask, run: number, options: EvalOptions): Promise<ResultLine | undefined> {
  const outcome = await executeRun(task, run, join(options.outDir, tracePathFor(task.task_id, run)), options);
  return outcome && resultLine(task, run, outcome, options);
}

/** The run's outcome, or `abandoned` when it has not returned `graceMs` after its signal was aborted. */
async function settleWithGrace(work: Promise<TaskResult>, signal: AbortSignal, graceMs: number): Promise<Settled> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort = () => {};
  const abandoned = new Promise<Settled>((resolve) => {
    onAbort = () => {
      timer = setTimeout(() => resolve({ abandoned: true }), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  const outcome = work.then(
    (result): Settled => ({ result }),
    (thrown: unknown): Settled => ({ thrown }),
  );
  try {
    return await Promise.race([outcome, abandoned]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
