import type { JudgeSettings } from '../score.js';

export interface EvalTask {
  task_id: string;
  question: string;
  /** An attached file, as an absolute path (readTasks resolves a relative one). */
  file?: string;
  answer?: string;
  /** GAIA's difficulty level, as the task line gives it. */
  level?: string;
}

export interface TaskResult {
  answer?: string;
  turns: number;
  toolCalls: number;
  tokens: number;
  ms: number;
  error?: string;
  stop?: string;
  /** Attempts the run made (MiroThinker's context management). */
  attempts?: number;
}

export interface RunContext {
  tracePath: string;
  signal: AbortSignal;
}

export type RunTask = (task: EvalTask, run: number, context: RunContext) => Promise<TaskResult>;

/**
 * How a run ended. `error`: it could not run to its end for a reason outside the model's work (the
 * model endpoint unreachable or failing after its retries, a server that did not start, a crash);
 * such a run is not scored, and a resume runs it again. The other two are finished runs.
 */
export type RunStatus = 'answered' | 'no_answer' | 'error';

/** Why a run did not give an answer: the first two are errors, the last two finished runs. */
export type FailureKind = 'crash' | 'model error' | 'time limit' | 'no answer';

/** One line of results.jsonl. */
export interface ResultLine {
  task_id: string;
  run: number;
  status: RunStatus;
  answer: string | null;
  truth: string | null;
  /** GAIA exact match; null when the task has no answer to compare with, or the run ended in error. */
  correct: boolean | null;
  /** The LLM judge's verdict (an exact match counts without asking); absent when none was had. */
  judged?: boolean;
  judge_reason?: string;
  level?: string;
  turns: number;
  tool_calls: number;
  tokens: number;
  ms: number;
  attempts?: number;
  error?: string;
  failure?: FailureKind;
  stop?: string;
  /** Relative to the output folder. */
  trace: string;
}

export interface EvalProgress {
  done: number;
  total: number;
  /** Runs found finished in results.jsonl at the start. */
  resumed: number;
  running: number;
  scored: number;
  correct: number;
  /** Finished runs without an answer. */
  failures: number;
  /** Runs that ended in error (run again on resume). */
  errors: number;
  /** Runs not needed: their task was answered correctly by an earlier run (--early-stop). */
  skipped: number;
  elapsedMs: number;
  etaMs?: number;
  last?: ResultLine;
  /** On a queue: the runs each worker holds now. */
  workers?: WorkerLoad[];
}

export interface WorkerLoad {
  worker: string;
  running: number;
}

export interface EvalOptions {
  tasks: EvalTask[];
  runs: number;
  concurrency: number;
  outDir: string;
  timeLimitMs: number;
  runTask: RunTask;
  judge?: JudgeSettings;
  /** A task's further runs are not made once one is correct (judged, else exact), as MiroThinker's pass@k does. */
  earlyStop?: boolean;
  onProgress?: (progress: EvalProgress) => void;
  /** Stops starting new runs; running ones go on to their end and are recorded. */
  signal?: AbortSignal;
  /** Aborts the running runs too; those cut short are not recorded, so a resume runs them again. */
  cancelRunning?: AbortSignal;
  /** How long a run may take to return once its signal is aborted before it is given up (default 10 s). */
  graceMs?: number;
}
