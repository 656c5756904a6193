import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { FathomError, errorMessage } from '@fathom/core';
import type { EvalTask } from './types.js';

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
