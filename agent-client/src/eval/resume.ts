import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FathomError } from '@fathom/core';
import type { EvalTask, ResultLine, RunStatus } from './types.js';

export const RESULTS_FILE = 'results.jsonl';

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
export function dropPartialLine(path: string): void {
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

/** A run's key in the map of finished runs. */
export const runKey = (taskId: string, run: number) => `${run}\u0000${taskId}`;

/** Whether a run counts as correct: the judge's verdict when there is one, else the exact match. */
export function isCorrect(line: ResultLine): boolean {
  return line.status !== 'error' && (line.judged ?? line.correct) === true;
}

/**
 * results.jsonl with one line per run: the last line written for a run wins, and runs that ended
 * in error and are about to run again are left out. Rewritten (through a temporary file) only
 * when that changes it.
 */
export function compactResults(path: string, rerun: (line: ResultLine) => boolean): Map<string, ResultLine> {
  const lines = readResults(path);
  const latest = new Map<string, ResultLine>();
  for (const line of lines) latest.set(runKey(line.task_id, line.run), line);
  for (const [id, line] of latest) if (line.status === 'error' && rerun(line)) latest.delete(id);
  if (latest.size !== lines.length) {
    const temporary = `${path}.tmp`;
    writeFileSync(temporary, [...latest.values()].map((line) => JSON.stringify(line) + '\n').join(''));
    renameSync(temporary, path);
  }
  return latest;
}

/** The finished runs of these tasks, in task order then run order. */
export function currentLines(finished: Map<string, ResultLine>, tasks: EvalTask[], runs: number): ResultLine[] {
  const lines: ResultLine[] = [];
  for (const task of tasks) {
    for (let run = 1; run <= runs; run++) {
      const line = finished.get(runKey(task.task_id, run));
      if (line) lines.push(line);
    }
  }
  return lines;
}
