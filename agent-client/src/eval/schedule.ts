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
export function nextJob(options: EvalOptions, finished: Map<string, ResultLine>, inFlight: Set<string>): { task: EvalTask; run: number } | undefined {
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

/** One run under its time limit; undefined when cancelled, so that it runs again on resume. */
export async function runJob(task: EvalTask, run: number, options: EvalOptions): Promise<ResultLine | undefined> {
  const trace = tracePathFor(task.task_id, run);
  const tracePath = join(options.outDir, trace);
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

  const result: TaskResult = 'result' in settled ? settled.result : { turns: 0, toolCalls: 0, tokens: 0, ms };
  let error = result.error;
  let failure: FailureKind | undefined;
  if (timedOut) {
    error = 'time limit';
    failure = 'time limit';
  } else if ('thrown' in settled) {
    error = errorMessage(settled.thrown);
    failure = 'crash';
  } else if (error || result.stop === 'model_error') {
    error ??= 'the model failed';
    failure = 'model error';
  } else if (result.answer === undefined || !result.answer.trim()) failure = 'no answer';
  const status: RunStatus = failure === 'crash' || failure === 'model error' ? 'error' : failure ? 'no_answer' : 'answered';

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
    ms: result.ms || ms,
    ...(result.attempts !== undefined ? { attempts: result.attempts } : {}),
    ...(error ? { error } : {}),
    ...(failure ? { failure } : {}),
    ...(result.stop ? { stop: result.stop } : {}),
    trace,
  };
  if (options.judge && truth !== null && status !== 'error') {
    const verdict = correct ? { correct: true } : await judgeAnswer(task.question, result.answer, truth, options.judge, options.cancelRunning);
    if (verdict.correct !== undefined) line.judged = verdict.correct;
    if ('reason' in verdict && verdict.reason) line.judge_reason = verdict.reason;
  }
  return line;
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
