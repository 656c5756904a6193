import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { FathomError, errorMessage } from '@fathom/core';
import { CHART_FILE, interactionBuckets, renderScalingChart } from './chart.js';
import type { Bucket } from './chart.js';
import { judgeAnswer, scoreAnswer } from './score.js';
import type { JudgeSettings } from './score.js';
import { formatMs } from './trace.js';

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

export const RESULTS_FILE = 'results.jsonl';
export const SUMMARY_FILE = 'summary.md';

export interface ReadTasksOptions {
  /** The folder attached files are found in (default: the tasks file's own folder). */
  filesDir?: string;
}

/**
 * Reads a tasks file, one JSON task a line; every problem is listed, with its line number, before
 * anything runs. Besides Fathom's own keys it reads MiroThinker's (task_question, ground_truth,
 * file_name, metadata.Level) and GAIA's (Question, Final answer, file_name, Level).
 */
export function readTasks(path: string, options: ReadTasksOptions = {}): EvalTask[] {
  if (!existsSync(path)) throw new FathomError('not_found', `No tasks file at ${path}`);
  const filesDir = resolve(options.filesDir ?? dirname(path));
  if (options.filesDir !== undefined && !isDirectory(filesDir)) {
    throw new FathomError('not_found', `No folder at ${filesDir} (--files)`, { hint: 'Give the folder that holds the files the tasks name.' });
  }
  const problems: string[] = [];
  const tasks: EvalTask[] = [];
  const firstLine = new Map<string, number>();
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((text, index) => {
      const line = index + 1;
      if (!text.trim()) return;
      const checked = checkTask(text);
      if (typeof checked === 'string') {
        problems.push(`line ${line}: ${checked}`);
        return;
      }
      const first = firstLine.get(checked.task_id);
      if (first !== undefined) {
        problems.push(`line ${line}: duplicate task_id "${checked.task_id}" (first on line ${first})`);
        return;
      }
      firstLine.set(checked.task_id, line);
      if (checked.file !== undefined) {
        if (!isAbsolute(checked.file)) checked.file = resolve(filesDir, checked.file);
        if (!existsSync(checked.file)) problems.push(`line ${line}: the attached file ${checked.file} does not exist`);
      }
      tasks.push(checked);
    });
  if (!problems.length && !tasks.length) problems.push('no tasks');
  if (problems.length) {
    const missing = problems.some((problem) => problem.includes('does not exist'));
    throw new FathomError('invalid_argument', `${path}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n${problems.join('\n')}`, {
      hint:
        'Each line must be a JSON object with a unique string task_id and a string question (or task_question); file (or file_name), answer (or ground_truth) and level are optional.' +
        (missing ? ` Attached files are looked for in ${filesDir}; give --files DIR if they are elsewhere.` : ''),
      details: { problems },
    });
  }
  return tasks;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The first of `keys` that the record has (not null). */
function pick(record: Record<string, unknown>, keys: string[]): unknown {
  for (const key of keys) if (record[key] !== undefined && record[key] !== null) return record[key];
  return undefined;
}

function checkTask(text: string): EvalTask | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return `not valid JSON (${errorMessage(error)})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  const metadata = typeof record.metadata === 'object' && record.metadata !== null ? (record.metadata as Record<string, unknown>) : {};
  const wrong: string[] = [];
  const taskId = typeof record.task_id === 'number' ? String(record.task_id) : record.task_id;
  const question = pick(record, ['question', 'task_question', 'Question']);
  const file = pick(record, ['file', 'file_name']);
  const rawAnswer = pick(record, ['answer', 'ground_truth', 'Final answer']);
  const answer = typeof rawAnswer === 'number' ? String(rawAnswer) : rawAnswer;
  const rawLevel = pick(record, ['level', 'Level']) ?? pick(metadata, ['level', 'Level']);
  if (typeof taskId !== 'string' || !taskId.trim()) wrong.push(record.task_id === undefined ? 'missing task_id' : 'task_id is not a non-empty string');
  if (typeof question !== 'string' || !question.trim()) wrong.push(question === undefined ? 'missing question' : 'question is not a non-empty string');
  if (file !== undefined && typeof file !== 'string') wrong.push('file is not a string');
  if (answer !== undefined && typeof answer !== 'string') wrong.push('answer is not a string');
  if (rawLevel !== undefined && typeof rawLevel !== 'string' && typeof rawLevel !== 'number') wrong.push('level is not a string or a number');
  if (wrong.length) return wrong.join('; ');
  return {
    task_id: taskId as string,
    question: question as string,
    ...(typeof file === 'string' && file ? { file } : {}),
    ...(typeof answer === 'string' ? { answer } : {}),
    ...(rawLevel !== undefined && String(rawLevel) !== '' ? { level: String(rawLevel) } : {}),
  };
}

/** The finished runs in a results file, a truncated last line (the process died mid-write) left out. */
export function readResults(path: string): ResultLine[] {
  if (!existsSync(path)) return [];
  const lines: ResultLine[] = [];
  completeLines(readFileSync(path, 'utf8')).split('\n').forEach((line, index) => {
    if (!line.trim()) return;
    let value: Partial<ResultLine>;
    try {
      value = JSON.parse(line) as Partial<ResultLine>;
    } catch {
      throw new FathomError('invalid_argument', `${path}, line ${index + 1}: not valid JSON`, { hint: 'Remove or fix the line, then run again.' });
    }
    if (typeof value.task_id !== 'string' || typeof value.run !== 'number') {
      throw new FathomError('invalid_argument', `${path}, line ${index + 1}: not a result (task_id and run expected)`);
    }
    lines.push({ ...value, status: statusOf(value) } as ResultLine);
  });
  return lines;
}

/** A line's status; lines written before there was one say it by their failure kind. */
function statusOf(line: Partial<ResultLine>): RunStatus {
  if (line.status === 'answered' || line.status === 'no_answer' || line.status === 'error') return line.status;
  const failure = line.failure as string | undefined;
  if (failure === 'crash' || failure === 'error' || failure === 'model error') return 'error';
  return typeof line.answer === 'string' && line.answer.trim() ? 'answered' : 'no_answer';
}

function completeLines(text: string): string {
  return text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
}

/** Cuts a truncated last line off the file, so that the next line appended starts clean. */
function dropPartialLine(path: string): void {
  if (!existsSync(path)) return;
  const text = readFileSync(path, 'utf8');
  const complete = completeLines(text);
  if (complete.length < text.length) truncateSync(path, Buffer.byteLength(complete));
}

/** traces/<task_id>-run<k>.jsonl, the id made safe for a file name (and kept distinct by a hash when changed). */
export function tracePathFor(taskId: string, run: number): string {
  let safe = taskId.replace(/[^\w.-]/g, '_').slice(0, 100);
  if (safe !== taskId) safe += '-' + createHash('sha256').update(taskId).digest('hex').slice(0, 8);
  return join('traces', `${safe}-run${run}.jsonl`);
}

const key = (taskId: string, run: number) => `${run}\u0000${taskId}`;

/** Whether a run counts as correct: the judge's verdict when there is one, else the exact match. */
export function isCorrect(line: ResultLine): boolean {
  return line.status !== 'error' && (line.judged ?? line.correct) === true;
}

/**
 * results.jsonl with one line per run: the last line written for a run wins, and runs that ended
 * in error and are about to run again are left out. Rewritten (through a temporary file) only
 * when that changes it.
 */
function compactResults(path: string, rerun: (line: ResultLine) => boolean): Map<string, ResultLine> {
  const lines = readResults(path);
  const latest = new Map<string, ResultLine>();
  for (const line of lines) latest.set(key(line.task_id, line.run), line);
  for (const [id, line] of latest) if (line.status === 'error' && rerun(line)) latest.delete(id);
  if (latest.size !== lines.length) {
    const temporary = `${path}.tmp`;
    writeFileSync(temporary, [...latest.values()].map((line) => JSON.stringify(line) + '\n').join(''));
    renameSync(temporary, path);
  }
  return latest;
}

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
    const id = key(job.task.task_id, job.run);
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

/**
 * The next run to start: runs in order of run number, then task. With early stop a task's runs go
 * one after another, and none starts once one of them was correct.
 */
function nextJob(options: EvalOptions, finished: Map<string, ResultLine>, inFlight: Set<string>): { task: EvalTask; run: number } | undefined {
  for (let run = 1; run <= options.runs; run++) {
    for (const task of options.tasks) {
      const id = key(task.task_id, run);
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
    const line = finished.get(key(task.task_id, earlier));
    if (!line || isCorrect(line)) return false;
  }
  return true;
}

/** Runs early stop made unnecessary: those after a task's first correct run that were not made. */
function skippedRuns(finished: Map<string, ResultLine>, tasks: EvalTask[], runs: number): number {
  let skipped = 0;
  for (const task of tasks) {
    const first = firstCorrectRun(task.task_id, finished, runs);
    if (first === undefined) continue;
    for (let run = first + 1; run <= runs; run++) if (!finished.has(key(task.task_id, run))) skipped++;
  }
  return skipped;
}

function firstCorrectRun(taskId: string, finished: Map<string, ResultLine>, runs: number): number | undefined {
  for (let run = 1; run <= runs; run++) {
    const line = finished.get(key(taskId, run));
    if (line && isCorrect(line)) return run;
  }
  return undefined;
}

function currentLines(finished: Map<string, ResultLine>, tasks: EvalTask[], runs: number): ResultLine[] {
  const lines: ResultLine[] = [];
  for (const task of tasks) {
    for (let run = 1; run <= runs; run++) {
      const line = finished.get(key(task.task_id, run));
      if (line) lines.push(line);
    }
  }
  return lines;
}

/** setTimeout fires at once beyond this (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Settled = { result: TaskResult } | { thrown: unknown } | { abandoned: true };

/** One run under its time limit; undefined when cancelled, so that it runs again on resume. */
async function runJob(task: EvalTask, run: number, options: EvalOptions): Promise<ResultLine | undefined> {
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

export interface Stat {
  mean: number;
  median: number;
}

export interface Rate {
  correct: number;
  of: number;
  accuracy: number;
}

export interface LevelSummary {
  level: string;
  tasks: number;
  exact: Rate;
  judged?: Rate;
  /** pass@k at k = runs. */
  passAtK: number;
}

export interface EvalSummary {
  tasks: number;
  runs: number;
  /** tasks × runs */
  total: number;
  /** Runs that ended, with or without an answer (not in error). */
  finished: number;
  /** Runs that ended in error: not scored, run again on resume. */
  errors: number;
  /** Runs early stop made unnecessary. */
  skipped: number;
  earlyStop: boolean;
  /** Finished runs of tasks that have an answer. */
  scored: number;
  exact: Rate;
  /** With a judge: its verdicts; a run it could not judge counts as wrong and is counted in `undecided`. */
  judged?: Rate & { model: string; undecided: number };
  /**
   * pass@k for k = 1..runs, exact match: the unbiased estimator over each task's finished runs, or
   * with early stop the share of tasks answered correctly within their first k runs.
   */
  passAtK: Record<number, number>;
  judgedPassAtK?: Record<number, number>;
  /** By GAIA level, when the tasks carry one. */
  levels: LevelSummary[];
  /** Per run, over finished runs. */
  stats: { runs: number; turns: Stat; toolCalls: Stat; tokens: Stat; ms: Stat };
  failures: Partial<Record<FailureKind, number>>;
  /** Accuracy (judged, else exact) against tool calls and turns per run. */
  scaling: { toolCalls: Bucket[]; turns: Bucket[] };
  perTask: Array<{ task_id: string; truth: string | null; level?: string; runs: Array<ResultLine | undefined> }>;
}

/** What runEval returns: the summary and the summary.md text. */
export interface EvalReport extends EvalSummary {
  markdown: string;
}

export function summarize(lines: ResultLine[], tasks: EvalTask[], runs: number, judge?: JudgeSettings, earlyStop = false): EvalSummary {
  const done = lines.filter((line) => line.status !== 'error');
  const byTask = new Map<string, ResultLine[]>();
  for (const line of done) byTask.set(line.task_id, [...(byTask.get(line.task_id) ?? []), line]);
  const scored = done.filter((line) => line.correct !== null);
  const rate = (correct: number, of: number): Rate => ({ correct, of, accuracy: of ? correct / of : 0 });
  const stat = (pick: (line: ResultLine) => number): Stat => statOf(done.map(pick));
  const failures: Partial<Record<FailureKind, number>> = {};
  for (const line of lines) if (line.failure) failures[line.failure] = (failures[line.failure] ?? 0) + 1;
  const passes = (taskIds: string[], correctOf: (line: ResultLine) => boolean) => {
    const out: Record<number, number> = {};
    for (let k = 1; k <= runs; k++) {
      const values = taskIds.flatMap((id) => {
        const taskLines = (byTask.get(id) ?? []).filter((line) => line.correct !== null).sort((a, b) => a.run - b.run);
        if (earlyStop) {
          const first = taskLines.find(correctOf);
          if (first && first.run <= k) return [1];
          return taskLines.filter((line) => line.run <= k).length >= k ? [0] : [];
        }
        return taskLines.length >= k ? [passAtK(taskLines.length, taskLines.filter(correctOf).length, k)] : [];
      });
      out[k] = values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
    }
    return out;
  };
  const allIds = tasks.map((task) => task.task_id);
  const judgedCorrect = (line: ResultLine) => line.judged === true;
  const exactCorrect = (line: ResultLine) => line.correct === true;
  const finishedMap = new Map(lines.map((line) => [key(line.task_id, line.run), line]));
  const skipped = earlyStop ? skippedRuns(finishedMap, tasks, runs) : 0;
  const levelNames = [...new Set(tasks.flatMap((task) => (task.level !== undefined ? [task.level] : [])))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const levels = levelNames.map((level): LevelSummary => {
    const levelIds = tasks.filter((task) => task.level === level).map((task) => task.task_id);
    const levelScored = scored.filter((line) => levelIds.includes(line.task_id));
    return {
      level,
      tasks: levelIds.length,
      exact: rate(levelScored.filter(exactCorrect).length, levelScored.length),
      ...(judge ? { judged: rate(levelScored.filter(judgedCorrect).length, levelScored.length) } : {}),
      passAtK: passes(levelIds, judge ? judgedCorrect : exactCorrect)[runs] ?? 0,
    };
  });
  const scalingCorrect = judge ? judgedCorrect : exactCorrect;
  return {
    tasks: tasks.length,
    runs,
    total: tasks.length * runs,
    finished: done.length,
    errors: lines.length - done.length,
    skipped,
    earlyStop,
    scored: scored.length,
    exact: rate(scored.filter(exactCorrect).length, scored.length),
    ...(judge
      ? {
          judged: { ...rate(scored.filter(judgedCorrect).length, scored.length), model: judge.model, undecided: scored.filter((line) => line.judged === undefined).length },
          judgedPassAtK: passes(allIds, judgedCorrect),
        }
      : {}),
    passAtK: passes(allIds, exactCorrect),
    levels,
    stats: {
      runs: done.length,
      turns: stat((line) => line.turns),
      toolCalls: stat((line) => line.tool_calls),
      tokens: stat((line) => line.tokens),
      ms: stat((line) => line.ms),
    },
    failures,
    scaling: {
      toolCalls: interactionBuckets(scored.map((line) => ({ value: line.tool_calls, correct: scalingCorrect(line) }))),
      turns: interactionBuckets(scored.map((line) => ({ value: line.turns, correct: scalingCorrect(line) }))),
    },
    perTask: tasks.map((task) => {
      const taskLines = lines.filter((line) => line.task_id === task.task_id);
      return {
        task_id: task.task_id,
        truth: task.answer ?? null,
        ...(task.level !== undefined ? { level: task.level } : {}),
        runs: Array.from({ length: runs }, (_, index) => taskLines.find((line) => line.run === index + 1)),
      };
    }),
  };
}

/** 1 - C(n-c, k) / C(n, k): the chance that at least one of k runs drawn from n is correct. */
export function passAtK(n: number, c: number, k: number): number {
  if (n - c < k) return 1;
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

function statOf(values: number[]): Stat {
  if (!values.length) return { mean: 0, median: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, median };
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const decimal = (value: number) => (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 1 }));

export function renderSummary(summary: EvalSummary): string {
  const out: string[] = ['# Eval summary', ''];
  const parts = [`${summary.finished} finished`];
  if (summary.errors) parts.push(`${summary.errors} ended in error`);
  if (summary.skipped) parts.push(`${summary.skipped} not needed (early stop)`);
  const notRun = summary.total - summary.finished - summary.errors - summary.skipped;
  if (notRun) parts.push(`${notRun} not run yet`);
  const complete = summary.finished + summary.skipped === summary.total ? `all finished${summary.skipped ? `, ${summary.skipped} not needed (early stop)` : ''}` : parts.join(', ');
  out.push(`- Runs: ${summary.tasks} tasks × ${summary.runs} run${summary.runs > 1 ? 's' : ''} = ${summary.total} (${complete})`);
  if (summary.errors) {
    out.push(`- Errors: ${summary.errors} run${summary.errors > 1 ? 's' : ''} could not run to their end (model endpoint, servers or a crash; see the Errors table). They are not scored; run the same command again to run them.`);
  }
  out.push(`- Exact match: ${summary.exact.correct}/${summary.exact.of} = ${percent(summary.exact.accuracy)}`);
  if (summary.judged) {
    const undecided = summary.judged.undecided ? ` (${summary.judged.undecided} undecided)` : '';
    out.push(`- Judged by ${summary.judged.model}: ${summary.judged.correct}/${summary.judged.of} = ${percent(summary.judged.accuracy)}${undecided}`);
  }
  const passLine = (passes: Record<number, number>) =>
    Object.entries(passes)
      .map(([k, value]) => `pass@${k} ${percent(value)}`)
      .join(' · ');
  const how = summary.earlyStop ? ' (early stop: a task counts from its first correct run on)' : '';
  out.push(`- Exact ${passLine(summary.passAtK)}${how}`);
  if (summary.judgedPassAtK) out.push(`- Judged ${passLine(summary.judgedPassAtK)}${how}`);
  if (summary.levels.length) {
    const judged = summary.levels.some((level) => level.judged);
    out.push('', '## By level', '', `| level | tasks | exact |${judged ? ' judged |' : ''} pass@${summary.runs} |`, `|---|---:|---:|${judged ? '---:|' : ''}---:|`);
    for (const level of summary.levels) {
      const judgedCell = judged ? ` ${level.judged ? `${level.judged.correct}/${level.judged.of} = ${percent(level.judged.accuracy)}` : ''} |` : '';
      out.push(`| ${cell(level.level)} | ${level.tasks} | ${level.exact.correct}/${level.exact.of} = ${percent(level.exact.accuracy)} |${judgedCell} ${percent(level.passAtK)} |`);
    }
  }
  out.push('', `Per run (${summary.stats.runs} finished runs):`, '', '| | mean | median |', '|---|---:|---:|');
  const { turns, toolCalls, tokens, ms } = summary.stats;
  out.push(`| turns | ${decimal(turns.mean)} | ${decimal(turns.median)} |`);
  out.push(`| tool calls | ${decimal(toolCalls.mean)} | ${decimal(toolCalls.median)} |`);
  out.push(`| tokens | ${decimal(Math.round(tokens.mean))} | ${decimal(Math.round(tokens.median))} |`);
  out.push(`| time | ${formatMs(ms.mean)} | ${formatMs(ms.median)} |`);
  out.push('', '## Interaction scaling', '');
  out.push(`Accuracy (${summary.judged ? 'judged' : 'exact match'}) of the scored runs by how many tool calls and turns each made.`, '');
  out.push(`![Accuracy against tool calls and turns per run](${CHART_FILE})`, '');
  out.push('| tool calls | runs | correct | accuracy |', '|---|---:|---:|---:|');
  for (const bucket of summary.scaling.toolCalls) out.push(`| ${bucket.label} | ${bucket.runs} | ${bucket.correct} | ${percent(bucket.accuracy)} |`);
  out.push('', '| turns | runs | correct | accuracy |', '|---|---:|---:|---:|');
  for (const bucket of summary.scaling.turns) out.push(`| ${bucket.label} | ${bucket.runs} | ${bucket.correct} | ${percent(bucket.accuracy)} |`);
  out.push('', '## Errors and failures', '');
  const failures = Object.entries(summary.failures);
  if (failures.length) {
    const kind = (name: string) => (name === 'crash' || name === 'model error' ? 'error (run again on resume)' : 'finished, no answer');
    out.push('| kind | runs | counted as |', '|---|---:|---|', ...failures.map(([name, count]) => `| ${name} | ${count} | ${kind(name)} |`));
  } else out.push('None.');
  out.push('', '## Tasks', '');
  const runHeads = Array.from({ length: summary.runs }, (_, index) => `run ${index + 1}`);
  const withLevel = summary.perTask.some((task) => task.level !== undefined);
  out.push(`| task |${withLevel ? ' level |' : ''} truth | ${runHeads.join(' | ')} |`, `|---|${withLevel ? '---|' : ''}---|${runHeads.map(() => '---').join('|')}|`);
  for (const task of summary.perTask) {
    out.push(`| ${cell(task.task_id)} |${withLevel ? ` ${cell(task.level ?? '')} |` : ''} ${cell(task.truth ?? '')} | ${task.runs.map(runCell).join(' | ')} |`);
  }
  out.push('', 'A run cell: ✓ exact match, ≈ judged correct, ✗ wrong, ⚠ ended in error; then the answer, and the tool calls and turns it took.');
  return out.join('\n') + '\n';
}

function runCell(line: ResultLine | undefined): string {
  if (!line) return '';
  if (line.status === 'error') return cell(`⚠ ${line.error ?? 'error'}`);
  const mark = line.correct === null ? '' : line.correct ? '✓ ' : line.judged ? '≈ ' : '✗ ';
  const answer = line.answer ?? '—';
  const failure = line.failure ? ` (${line.failure})` : '';
  return `${cell(`${mark}${answer}${failure}`)} · ${line.tool_calls} calls, ${line.turns} turns`;
}

function cell(text: string): string {
  const flat = text.replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();
  return flat.length > 60 ? flat.slice(0, 59) + '…' : flat;
}

/** `[████████░░░░░░░░] 12/103  acc 58.3%  no answer 2  err 1  12m 03s  eta 1h 02m` */
export function progressLine(progress: EvalProgress, barWidth = 20): string {
  const filled = progress.total ? Math.floor((progress.done / progress.total) * barWidth) : barWidth;
  const bar = '█'.repeat(filled) + '░'.repeat(barWidth - filled);
  return [`[${bar}] ${progress.done}/${progress.total}`, ...progressFacts(progress)].join('  ');
}

function progressFacts(progress: EvalProgress): string[] {
  const accuracy = progress.scored ? percent(progress.correct / progress.scored) : '—';
  return [
    `acc ${accuracy}`,
    `no answer ${progress.failures}`,
    `err ${progress.errors}`,
    ...(progress.running ? [`running ${progress.running}`] : []),
    formatMs(progress.elapsedMs),
    `eta ${progress.etaMs === undefined ? '—' : formatMs(progress.etaMs)}`,
  ];
}

/**
 * One plain line per finished run, for a log file or a pipe:
 * `12/103  t7 run 1: correct "42" (5 turns, 4 tool calls, 12.3s)  acc 58.3%  no answer 2  err 1  12m 03s  eta 1h 02m`
 */
export function progressRecord(progress: EvalProgress): string | undefined {
  const line = progress.last;
  if (!line) return undefined;
  const verdict =
    line.status === 'error'
      ? `error: ${oneLine(line.error ?? 'unknown')}`
      : `${line.correct === null ? 'answered' : isCorrect(line) ? 'correct' : 'wrong'} ${line.answer === null ? '(no answer)' : JSON.stringify(cut(line.answer, 60))}`;
  const facts = `(${line.turns} turns, ${line.tool_calls} tool calls, ${formatMs(line.ms)})`;
  return [`${progress.done}/${progress.total}  ${line.task_id} run ${line.run}: ${verdict} ${facts}`, ...progressFacts(progress)].join('  ');
}

function oneLine(text: string): string {
  return cut(text.replace(/\s+/g, ' ').trim(), 200);
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, width - 1) + '…';
}
