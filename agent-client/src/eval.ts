import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { FathomError, errorMessage } from '@fathom/core';
import { judgeAnswer, scoreAnswer } from './score.js';
import type { JudgeSettings } from './score.js';
import { formatMs } from './trace.js';

export interface EvalTask {
  task_id: string;
  question: string;
  /** An attached file; a relative path in a tasks file is resolved against that file's folder. */
  file?: string;
  answer?: string;
}

export interface TaskResult {
  answer?: string;
  turns: number;
  toolCalls: number;
  tokens: number;
  ms: number;
  error?: string;
  stop?: string;
}

export interface RunContext {
  tracePath: string;
  signal: AbortSignal;
}

export type RunTask = (task: EvalTask, run: number, context: RunContext) => Promise<TaskResult>;

/** Why a run did not produce a usable answer. */
export type FailureKind = 'time limit' | 'crash' | 'error' | 'no answer';

/** One line of results.jsonl. */
export interface ResultLine {
  task_id: string;
  run: number;
  answer: string | null;
  truth: string | null;
  /** GAIA exact match; null when the task has no answer to compare with. */
  correct: boolean | null;
  /** The LLM judge's verdict (an exact match counts without asking); absent when none was had. */
  judged?: boolean;
  judge_reason?: string;
  turns: number;
  tool_calls: number;
  tokens: number;
  ms: number;
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
  failures: number;
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

/** Reads a tasks file, one JSON task a line; every problem is listed, with its line number, before anything runs. */
export function readTasks(path: string): EvalTask[] {
  if (!existsSync(path)) throw new FathomError('not_found', `No tasks file at ${path}`);
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
      if (checked.file !== undefined && !isAbsolute(checked.file)) checked.file = resolve(dirname(path), checked.file);
      tasks.push(checked);
    });
  if (!problems.length && !tasks.length) problems.push('no tasks');
  if (problems.length) {
    throw new FathomError('invalid_argument', `${path}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n${problems.join('\n')}`, {
      hint: 'Each line must be a JSON object with a unique string task_id and a string question; file and answer are optional strings.',
      details: { problems },
    });
  }
  return tasks;
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
  const wrong: string[] = [];
  const taskId = typeof record.task_id === 'number' ? String(record.task_id) : record.task_id;
  if (typeof taskId !== 'string' || !taskId.trim()) wrong.push(record.task_id === undefined ? 'missing task_id' : 'task_id is not a non-empty string');
  if (typeof record.question !== 'string' || !record.question.trim()) wrong.push(record.question === undefined ? 'missing question' : 'question is not a non-empty string');
  if (record.file !== undefined && record.file !== null && typeof record.file !== 'string') wrong.push('file is not a string');
  const answer = typeof record.answer === 'number' ? String(record.answer) : record.answer;
  if (answer !== undefined && answer !== null && typeof answer !== 'string') wrong.push('answer is not a string');
  if (wrong.length) return wrong.join('; ');
  return {
    task_id: taskId as string,
    question: record.question as string,
    ...(typeof record.file === 'string' && record.file ? { file: record.file } : {}),
    ...(typeof answer === 'string' ? { answer } : {}),
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
    lines.push(value as ResultLine);
  });
  return lines;
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

/** Runs every (task, run) not already in results.jsonl, `concurrency` at a time, then writes summary.md. */
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
  const finished = new Map<string, ResultLine>();
  for (const line of readResults(resultsPath)) finished.set(key(line.task_id, line.run), line);

  const jobs: Array<{ task: EvalTask; run: number }> = [];
  for (let run = 1; run <= options.runs; run++) {
    for (const task of options.tasks) if (!finished.has(key(task.task_id, run))) jobs.push({ task, run });
  }
  const started = Date.now();
  const total = options.tasks.length * options.runs;
  const resumed = total - jobs.length;
  let running = 0;
  let fresh = 0;
  const progress = (last?: ResultLine): EvalProgress => {
    const lines = currentLines(finished, options.tasks, options.runs);
    const scored = lines.filter((line) => line.correct !== null);
    const done = lines.length;
    const elapsedMs = Date.now() - started;
    return {
      done,
      total,
      resumed,
      running,
      scored: scored.length,
      correct: scored.filter((line) => line.correct).length,
      failures: lines.filter((line) => line.failure).length,
      elapsedMs,
      ...(fresh > 0 && done < total ? { etaMs: (elapsedMs / fresh) * (total - done) } : {}),
      ...(last ? { last } : {}),
    };
  };
  options.onProgress?.(progress());

  const stopped = () => options.signal?.aborted === true || options.cancelRunning?.aborted === true;
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && !stopped()) {
      const job = jobs[next++]!;
      running++;
      const line = await runJob(job.task, job.run, options);
      running--;
      if (!line) continue;
      appendFileSync(resultsPath, JSON.stringify(line) + '\n');
      finished.set(key(line.task_id, line.run), line);
      fresh++;
      options.onProgress?.(progress(line));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, jobs.length) }, worker));

  const summary = summarize(currentLines(finished, options.tasks, options.runs), options.tasks, options.runs, options.judge);
  const markdown = renderSummary(summary);
  writeFileSync(join(options.outDir, SUMMARY_FILE), markdown);
  return { ...summary, markdown };
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
  } else if (error) failure = 'error';
  else if (result.answer === undefined || !result.answer.trim()) failure = 'no answer';

  const truth = task.answer ?? null;
  const correct = truth === null ? null : scoreAnswer(result.answer, truth);
  const line: ResultLine = {
    task_id: task.task_id,
    run,
    answer: result.answer ?? null,
    truth,
    correct,
    turns: result.turns,
    tool_calls: result.toolCalls,
    tokens: result.tokens,
    ms: result.ms || ms,
    ...(error ? { error } : {}),
    ...(failure ? { failure } : {}),
    ...(result.stop ? { stop: result.stop } : {}),
    trace,
  };
  if (options.judge && truth !== null) {
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

export interface EvalSummary {
  tasks: number;
  runs: number;
  /** tasks × runs */
  total: number;
  finished: number;
  /** Finished runs of tasks that have an answer. */
  scored: number;
  exact: Rate;
  /** With a judge: its verdicts; a run it could not judge counts as wrong and is counted in `undecided`. */
  judged?: Rate & { model: string; undecided: number };
  /** pass@k for k = 1..runs (unbiased estimator over each task's finished runs), exact match. */
  passAtK: Record<number, number>;
  judgedPassAtK?: Record<number, number>;
  /** Per run, over runs that did not crash. */
  stats: { runs: number; turns: Stat; toolCalls: Stat; tokens: Stat; ms: Stat };
  failures: Partial<Record<FailureKind, number>>;
  perTask: Array<{ task_id: string; truth: string | null; runs: Array<ResultLine | undefined> }>;
}

/** What runEval returns: the summary and the summary.md text. */
export interface EvalReport extends EvalSummary {
  markdown: string;
}

export function summarize(lines: ResultLine[], tasks: EvalTask[], runs: number, judge?: JudgeSettings): EvalSummary {
  const byTask = new Map<string, ResultLine[]>();
  for (const line of lines) byTask.set(line.task_id, [...(byTask.get(line.task_id) ?? []), line]);
  const scored = lines.filter((line) => line.correct !== null);
  const rate = (correct: number, of: number): Rate => ({ correct, of, accuracy: of ? correct / of : 0 });
  const ran = lines.filter((line) => line.failure !== 'crash');
  const stat = (pick: (line: ResultLine) => number): Stat => statOf(ran.map(pick));
  const failures: Partial<Record<FailureKind, number>> = {};
  for (const line of lines) if (line.failure) failures[line.failure] = (failures[line.failure] ?? 0) + 1;
  const passes = (isCorrect: (line: ResultLine) => boolean) => {
    const out: Record<number, number> = {};
    for (let k = 1; k <= runs; k++) {
      const values = [...byTask.values()]
        .map((taskLines) => taskLines.filter((line) => line.correct !== null))
        .filter((taskLines) => taskLines.length >= k)
        .map((taskLines) => passAtK(taskLines.length, taskLines.filter(isCorrect).length, k));
      out[k] = values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
    }
    return out;
  };
  return {
    tasks: tasks.length,
    runs,
    total: tasks.length * runs,
    finished: lines.length,
    scored: scored.length,
    exact: rate(scored.filter((line) => line.correct).length, scored.length),
    ...(judge
      ? {
          judged: { ...rate(scored.filter((line) => line.judged).length, scored.length), model: judge.model, undecided: scored.filter((line) => line.judged === undefined).length },
          judgedPassAtK: passes((line) => line.judged === true),
        }
      : {}),
    passAtK: passes((line) => line.correct === true),
    stats: {
      runs: ran.length,
      turns: stat((line) => line.turns),
      toolCalls: stat((line) => line.tool_calls),
      tokens: stat((line) => line.tokens),
      ms: stat((line) => line.ms),
    },
    failures,
    perTask: tasks.map((task) => {
      const taskLines = byTask.get(task.task_id) ?? [];
      return {
        task_id: task.task_id,
        truth: task.answer ?? null,
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
  const complete = summary.finished === summary.total ? 'all finished' : `${summary.finished} finished`;
  out.push(`- Runs: ${summary.tasks} tasks × ${summary.runs} run${summary.runs > 1 ? 's' : ''} = ${summary.total} (${complete})`);
  out.push(`- Exact match: ${summary.exact.correct}/${summary.exact.of} = ${percent(summary.exact.accuracy)}`);
  if (summary.judged) {
    const undecided = summary.judged.undecided ? ` (${summary.judged.undecided} undecided)` : '';
    out.push(`- Judged by ${summary.judged.model}: ${summary.judged.correct}/${summary.judged.of} = ${percent(summary.judged.accuracy)}${undecided}`);
  }
  const passLine = (passes: Record<number, number>) =>
    Object.entries(passes)
      .map(([k, value]) => `pass@${k} ${percent(value)}`)
      .join(' · ');
  out.push(`- Exact ${passLine(summary.passAtK)}`);
  if (summary.judgedPassAtK) out.push(`- Judged ${passLine(summary.judgedPassAtK)}`);
  out.push('', `Per run (${summary.stats.runs} runs that did not crash):`, '', '| | mean | median |', '|---|---:|---:|');
  const { turns, toolCalls, tokens, ms } = summary.stats;
  out.push(`| turns | ${decimal(turns.mean)} | ${decimal(turns.median)} |`);
  out.push(`| tool calls | ${decimal(toolCalls.mean)} | ${decimal(toolCalls.median)} |`);
  out.push(`| tokens | ${decimal(Math.round(tokens.mean))} | ${decimal(Math.round(tokens.median))} |`);
  out.push(`| time | ${formatMs(ms.mean)} | ${formatMs(ms.median)} |`);
  out.push('', '## Failures', '');
  const failures = Object.entries(summary.failures);
  if (failures.length) {
    out.push('| kind | runs |', '|---|---:|', ...failures.map(([kind, count]) => `| ${kind} | ${count} |`));
  } else out.push('None.');
  out.push('', '## Tasks', '');
  const runHeads = Array.from({ length: summary.runs }, (_, index) => `run ${index + 1}`);
  out.push(`| task | truth | ${runHeads.join(' | ')} |`, `|---|---|${runHeads.map(() => '---').join('|')}|`);
  for (const task of summary.perTask) {
    out.push(`| ${cell(task.task_id)} | ${cell(task.truth ?? '')} | ${task.runs.map(runCell).join(' | ')} |`);
  }
  return out.join('\n') + '\n';
}

function runCell(line: ResultLine | undefined): string {
  if (!line) return '';
  const mark = line.correct === null ? '' : line.correct ? '✓ ' : line.judged ? '≈ ' : '✗ ';
  const answer = line.answer ?? '—';
  const error = line.error ? ` (${line.error})` : '';
  return cell(`${mark}${answer}${error}`);
}

function cell(text: string): string {
  const flat = text.replace(/\s+/g, ' ').replaceAll('|', '\\|').trim();
  return flat.length > 60 ? flat.slice(0, 59) + '…' : flat;
}

/** `[████████░░░░░░░░] 12/103  acc 58.3%  fail 2  12m 03s  eta 1h 02m` */
export function progressLine(progress: EvalProgress, barWidth = 20): string {
  const filled = progress.total ? Math.floor((progress.done / progress.total) * barWidth) : barWidth;
  const bar = '█'.repeat(filled) + '░'.repeat(barWidth - filled);
  const accuracy = progress.scored ? percent(progress.correct / progress.scored) : '—';
  return [
    `[${bar}] ${progress.done}/${progress.total}`,
    `acc ${accuracy}`,
    `fail ${progress.failures}`,
    ...(progress.running ? [`running ${progress.running}`] : []),
    formatMs(progress.elapsedMs),
    `eta ${progress.etaMs === undefined ? '—' : formatMs(progress.etaMs)}`,
  ].join('  ');
}
