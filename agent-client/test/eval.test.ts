import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FathomError, isFathomError } from '@fathom/core';
import { passAtK, progressLine, progressRecord, readResults, readTasks, runEval, summarize, tracePathFor } from '../src/eval.js';
import type { EvalOptions, EvalTask, ResultLine, RunTask, TaskResult } from '../src/eval.js';
import { TraceWriter, readTrace } from '../src/trace.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-eval-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function tasks(count: number): EvalTask[] {
  return Array.from({ length: count }, (_, index) => ({ task_id: `t${index + 1}`, question: `What is ${index + 1}?`, answer: String(index + 1) }));
}

function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

type Behavior = (task: EvalTask, run: number, signal: AbortSignal) => Promise<TaskResult>;

/** A runTask that writes a trace, counts runs in flight, and does what `behave` says. */
function fakeRunner(behave: Behavior) {
  const state = { inFlight: 0, maxInFlight: 0, calls: [] as string[] };
  const runTask: RunTask = async (task, run, { tracePath, signal }) => {
    state.calls.push(`${task.task_id}#${run}`);
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    const trace = TraceWriter.open(tracePath);
    trace.write({ type: 'start', task: task.question });
    try {
      return await behave(task, run, signal);
    } finally {
      trace.write({ type: 'end' });
      trace.close();
      state.inFlight--;
    }
  };
  return { runTask, state };
}

const answerWith =
  (answer: (task: EvalTask, run: number) => string | undefined, ms = 5): Behavior =>
  async (task, run, signal) => {
    await wait(ms, signal);
    const given = answer(task, run);
    return { ...(given !== undefined ? { answer: given } : {}), turns: 3, toolCalls: 2, tokens: 1000, ms, stop: 'answered' };
  };

const rightAnswer = answerWith((task) => task.answer);

function options(overrides: Partial<EvalOptions> & Pick<EvalOptions, 'tasks' | 'runTask'>): EvalOptions {
  return { runs: 1, concurrency: 2, outDir: dir, timeLimitMs: 5000, graceMs: 200, ...overrides };
}

const results = () => readResults(join(dir, 'results.jsonl'));
const keys = (lines: ResultLine[]) => lines.map((line) => `${line.task_id}#${line.run}`).sort();

describe('runEval', () => {
  it('keeps to the concurrency and appends one result line per run, with its trace', async () => {
    const { runTask, state } = fakeRunner(answerWith((task) => task.answer, 25));
    const summary = await runEval(options({ tasks: tasks(8), runTask, concurrency: 3 }));
    expect(state.maxInFlight).toBe(3);
    expect(state.calls).toHaveLength(8);
    const lines = results();
    expect(keys(lines)).toEqual(keys(tasks(8).map((task) => ({ task_id: task.task_id, run: 1 }) as ResultLine)));
    expect(lines[0]).toMatchObject({ run: 1, correct: true, turns: 3, tool_calls: 2, tokens: 1000, ms: 25, stop: 'answered' });
    for (const line of lines) {
      expect(line.answer).toBe(line.truth);
      expect(line.trace).toBe(join('traces', `${line.task_id}-run1.jsonl`));
      expect(readTrace(join(dir, line.trace)).map((event) => event.type)).toEqual(['start', 'end']);
    }
    expect(summary.exact).toEqual({ correct: 8, of: 8, accuracy: 1 });
    expect(existsSync(join(dir, 'summary.md'))).toBe(true);
  });

  it('records a run that throws as an error, not a wrong answer, and goes on', async () => {
    const { runTask } = fakeRunner(async (task, run, signal) => {
      if (task.task_id === 't2') throw new FathomError('unavailable', 'tool-python did not start');
      return rightAnswer(task, run, signal);
    });
    const summary = await runEval(options({ tasks: tasks(3), runTask }));
    const lines = results();
    expect(lines).toHaveLength(3);
    const failed = lines.find((line) => line.task_id === 't2')!;
    expect(failed).toMatchObject({ status: 'error', error: 'tool-python did not start', failure: 'crash', answer: null, correct: null, turns: 0 });
    expect(summary.failures).toEqual({ crash: 1 });
    expect(summary).toMatchObject({ errors: 1, finished: 2, exact: { correct: 2, of: 2 } });
  });

  it('aborts a run at the time limit and records it, partial result kept', async () => {
    const { runTask } = fakeRunner(async (task, run, signal) => {
      if (task.task_id === 't1') {
        await wait(60_000, signal);
        return { turns: 7, toolCalls: 6, tokens: 5000, ms: 100, stop: 'cancelled', error: 'aborted' };
      }
      if (task.task_id === 't2') return new Promise<TaskResult>(() => {});
      return rightAnswer(task, run, signal);
    });
    const started = Date.now();
    const summary = await runEval(options({ tasks: tasks(3), runTask, timeLimitMs: 100, graceMs: 100, concurrency: 3 }));
    expect(Date.now() - started).toBeLessThan(8000);
    const byId = new Map(results().map((line) => [line.task_id, line]));
    expect(byId.get('t1')).toMatchObject({ status: 'no_answer', correct: false, error: 'time limit', failure: 'time limit', turns: 7, tool_calls: 6, stop: 'cancelled' });
    expect(byId.get('t2')).toMatchObject({ status: 'no_answer', error: 'time limit', failure: 'time limit', turns: 0 });
    expect(byId.get('t3')).toMatchObject({ correct: true });
    expect(byId.get('t3')!.error).toBeUndefined();
    expect(summary.failures).toEqual({ 'time limit': 2 });
  });

  it('records a model failure as an error and a missing answer as a finished run without one', async () => {
    const { runTask } = fakeRunner(async (task) => {
      if (task.task_id === 't1') return { turns: 1, toolCalls: 0, tokens: 10, ms: 1, error: 'The model endpoint did not answer after 10 attempts', stop: 'model_error' };
      return { turns: 2, toolCalls: 1, tokens: 20, ms: 1, stop: 'answered' };
    });
    const summary = await runEval(options({ tasks: tasks(2), runTask }));
    expect(summary.failures).toEqual({ 'model error': 1, 'no answer': 1 });
    const byId = new Map(results().map((line) => [line.task_id, line]));
    expect(byId.get('t1')).toMatchObject({ status: 'error', correct: null, failure: 'model error' });
    expect(byId.get('t2')).toMatchObject({ status: 'no_answer', correct: false, failure: 'no answer' });
    expect(summary).toMatchObject({ errors: 1, finished: 1, exact: { correct: 0, of: 1 } });
  });

  it('runs again on resume what ended in error, once, and keeps one line per run', async () => {
    const first = fakeRunner(async (task, run, signal) => {
      if (task.task_id === 't1') throw new Error('runner crashed');
      if (task.task_id === 't2') return { turns: 1, toolCalls: 0, tokens: 1, ms: 1, stop: 'model_error', error: 'model unreachable' };
      if (task.task_id === 't3') return { turns: 4, toolCalls: 3, tokens: 1, ms: 1, stop: 'answered' };
      return answerWith(() => 'wrong')(task, run, signal);
    });
    const before = await runEval(options({ tasks: tasks(4), runTask: first.runTask }));
    expect(before).toMatchObject({ errors: 2, finished: 2, exact: { correct: 0, of: 2 } });
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('- Errors: 2 runs could not run to their end');

    const second = fakeRunner(rightAnswer);
    const seen: number[] = [];
    const after = await runEval(options({ tasks: tasks(4), runTask: second.runTask, onProgress: (progress) => seen.push(progress.errors) }));
    // Only the two errors run again: the finished wrong answer (t4) and the finished run without an answer (t3) stay.
    expect(second.state.calls.sort()).toEqual(['t1#1', 't2#1']);
    expect(seen[0]).toBe(0);
    const lines = results();
    expect(keys(lines)).toEqual(['t1#1', 't2#1', 't3#1', 't4#1']);
    expect(lines.map((line) => line.status).sort()).toEqual(['answered', 'answered', 'answered', 'no_answer']);
    expect(after).toMatchObject({ errors: 0, finished: 4, exact: { correct: 2, of: 4 } });
    expect(after.failures).toEqual({ 'no answer': 1 });

    const third = fakeRunner(rightAnswer);
    await runEval(options({ tasks: tasks(4), runTask: third.runTask }));
    expect(third.state.calls).toEqual([]);
  });

  it('reads results written before runs had a status: crashes and errors are errors', async () => {
    const old = (task_id: string, extra: object) => JSON.stringify({ task_id, run: 1, answer: null, truth: '1', correct: false, turns: 0, tool_calls: 0, tokens: 0, ms: 1, trace: 'x', ...extra });
    writeFileSync(join(dir, 'results.jsonl'), [old('t1', { failure: 'crash', error: 'boom' }), old('t2', { failure: 'error', error: 'model' }), old('t3', { failure: 'no answer' }), ''].join('\n'));
    expect(results().map((line) => line.status)).toEqual(['error', 'error', 'no_answer']);
    const { runTask, state } = fakeRunner(rightAnswer);
    await runEval(options({ tasks: tasks(3), runTask }));
    expect(state.calls.sort()).toEqual(['t1#1', 't2#1']);
  });

  it('resumes: stopped after some runs, a second eval runs only the missing ones', async () => {
    const all = tasks(6);
    const controller = new AbortController();
    const first = fakeRunner(rightAnswer);
    const partial = await runEval(
      options({
        tasks: all,
        runTask: first.runTask,
        concurrency: 1,
        signal: controller.signal,
        onProgress: (progress) => {
          if (progress.done === 2) controller.abort();
        },
      }),
    );
    expect(first.state.calls).toEqual(['t1#1', 't2#1']);
    expect(partial.finished).toBe(2);
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('2 finished');

    // The process died while writing a line, and a run had left a trace but no result.
    appendFileSync(join(dir, 'results.jsonl'), '{"task_id":"t3","run":1,"answ');
    writeFileSync(join(dir, tracePathFor('t3', 1)), '{"t":0,"at":"x","type":"start"}\n{"t":1,"at":"x","type":"request"}\n');

    const second = fakeRunner(rightAnswer);
    const seen: number[] = [];
    const summary = await runEval(options({ tasks: all, runTask: second.runTask, concurrency: 2, onProgress: (progress) => seen.push(progress.done) }));
    expect(second.state.calls.sort()).toEqual(['t3#1', 't4#1', 't5#1', 't6#1']);
    expect(seen[0]).toBe(2);
    expect(seen.at(-1)).toBe(6);
    const lines = results();
    expect(lines).toHaveLength(6);
    expect(new Set(keys(lines)).size).toBe(6);
    expect(readTrace(join(dir, tracePathFor('t3', 1))).map((event) => event.type)).toEqual(['start', 'end']);
    expect(summary).toMatchObject({ finished: 6, total: 6, exact: { correct: 6, of: 6 } });

    const third = fakeRunner(rightAnswer);
    await runEval(options({ tasks: all, runTask: third.runTask }));
    expect(third.state.calls).toEqual([]);
    expect(results()).toHaveLength(6);
  });

  it('cancelling the running runs keeps them out of the results, so a resume runs them', async () => {
    const stop = new AbortController();
    const cancel = new AbortController();
    const { runTask, state } = fakeRunner(async (task, run, signal) => {
      if (task.task_id === 't1') return rightAnswer(task, run, signal);
      setTimeout(() => {
        stop.abort();
        cancel.abort();
      }, 20);
      await wait(60_000, signal);
      return { turns: 1, toolCalls: 0, tokens: 0, ms: 1, stop: 'cancelled' };
    });
    await runEval(options({ tasks: tasks(4), runTask, concurrency: 1, signal: stop.signal, cancelRunning: cancel.signal }));
    expect(state.calls).toEqual(['t1#1', 't2#1']);
    expect(keys(results())).toEqual(['t1#1']);

    const again = fakeRunner(rightAnswer);
    await runEval(options({ tasks: tasks(4), runTask: again.runTask }));
    expect(again.state.calls.sort()).toEqual(['t2#1', 't3#1', 't4#1']);
    expect(results()).toHaveLength(4);
  });

  it('writes summary.md with accuracy, pass@k over two runs, averages, failures and a task table', async () => {
    const answers: Record<string, [string | undefined, string | undefined]> = {
      t1: ['1', '1'],
      t2: ['2', 'two'],
      t3: ['0', '0'],
      t4: ['4', undefined],
    };
    const { runTask } = fakeRunner(async (task, run) => {
      if (task.task_id === 't4' && run === 2) throw new Error('crashed | badly');
      const answer = answers[task.task_id]![run - 1];
      return { ...(answer !== undefined ? { answer } : {}), turns: run * 2, toolCalls: run, tokens: 100 * run, ms: 1000 * run };
    });
    const summary = await runEval(options({ tasks: tasks(4), runs: 2, runTask }));
    // The crash is not scored: 7 finished runs.
    expect(summary.exact).toEqual({ correct: 4, of: 7, accuracy: 4 / 7 });
    expect(summary.passAtK[1]).toBeCloseTo((1 + 0.5 + 0 + 1) / 4);
    expect(summary.passAtK[2]).toBeCloseTo(2 / 3);
    expect(summary.stats.runs).toBe(7);
    expect(summary.stats.turns).toEqual({ mean: (2 * 4 + 4 * 3) / 7, median: 2 });
    expect(summary.failures).toEqual({ crash: 1 });
    expect(summary.errors).toBe(1);
    expect(summary.judged).toBeUndefined();

    const markdown = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(summary.markdown).toBe(markdown);
    expect(markdown).toContain('- Runs: 4 tasks × 2 runs = 8 (7 finished, 1 ended in error)');
    expect(markdown).toContain('- Exact match: 4/7 = 57.1%');
    expect(markdown).toContain('- Exact pass@1 62.5% · pass@2 66.7%');
    expect(markdown).toContain('| turns | 2.9 | 2 |');
    expect(markdown).toContain('| tool calls | 1.4 | 1 |');
    expect(markdown).toContain('| tokens | 143 | 100 |');
    expect(markdown).toContain('| time | 1.4s | 1.0s |');
    expect(markdown).toContain('| crash | 1 | error (run again on resume) |');
    expect(markdown).toContain('| t2 | 2 | ✓ 2 · 1 calls, 2 turns | ✗ two · 2 calls, 4 turns |');
    expect(markdown).toContain('| t4 | 4 | ✓ 4 · 1 calls, 2 turns | ⚠ crashed \\| badly |');
    expect(markdown).toContain('![Accuracy against tool calls and turns per run](interaction-scaling.svg)');
    expect(markdown).not.toContain('Judged');
  });

  it('asks the judge only when the exact match fails, and reports judged accuracy', async () => {
    const asked: string[] = [];
    const server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      request.on('end', () => {
        const prompt = (JSON.parse(raw) as { messages: Array<{ content: string }> }).messages[0]!.content;
        asked.push(prompt);
        const content = prompt.includes('Predicted Answer: two') ? 'Correct' : prompt.includes('Predicted Answer: broken') ? 'Hmm' : 'Incorrect';
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content } }] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const judge = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, model: 'judge-model', attempts: 1 };
      const answers: Record<string, string | undefined> = { t1: '1', t2: 'two', t3: 'seven', t4: 'broken', t5: undefined };
      const { runTask } = fakeRunner(answerWith((task) => answers[task.task_id]));
      const summary = await runEval(options({ tasks: tasks(5), runTask, judge }));
      expect(asked).toHaveLength(3);
      const byId = new Map(results().map((line) => [line.task_id, line]));
      expect(byId.get('t1')).toMatchObject({ correct: true, judged: true });
      expect(byId.get('t2')).toMatchObject({ correct: false, judged: true });
      expect(byId.get('t3')).toMatchObject({ correct: false, judged: false });
      expect(byId.get('t4')).toMatchObject({ correct: false, judge_reason: 'no verdict in the reply' });
      expect(byId.get('t4')!.judged).toBeUndefined();
      expect(byId.get('t5')).toMatchObject({ correct: false, judged: false, judge_reason: 'no answer' });
      expect(summary.judged).toEqual({ correct: 2, of: 5, accuracy: 0.4, model: 'judge-model', undecided: 1 });
      const markdown = readFileSync(join(dir, 'summary.md'), 'utf8');
      expect(markdown).toContain('- Judged by judge-model: 2/5 = 40.0% (1 undecided)');
      expect(markdown).toContain('- Judged pass@1 40.0%');
      expect(markdown).toContain('| t2 | 2 | ≈ two · 2 calls, 3 turns |');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("early stop: a task's runs go one after another and stop at the first correct one; pass@k counts from it", async () => {
    // t1 right at once, t2 at its second run, t3 never, t4 errors at its first run and is right after.
    const right: Record<string, number> = { t1: 1, t2: 2, t3: 99, t4: 2 };
    const order: string[] = [];
    const { runTask, state } = fakeRunner(async (task, run, signal) => {
      order.push(`${task.task_id}#${run}`);
      if (task.task_id === 't4' && run === 1) return { turns: 1, toolCalls: 0, tokens: 0, ms: 1, stop: 'model_error', error: 'model down' };
      return answerWith(() => (run >= right[task.task_id]! ? task.answer : 'wrong'))(task, run, signal);
    });
    const summary = await runEval(options({ tasks: tasks(4), runs: 3, runTask, concurrency: 4, earlyStop: true }));
    expect(state.calls.sort()).toEqual(['t1#1', 't2#1', 't2#2', 't3#1', 't3#2', 't3#3', 't4#1', 't4#2'].sort());
    // Never two runs of one task at once.
    for (const id of ['t2', 't3', 't4']) {
      const runs = order.filter((call) => call.startsWith(`${id}#`));
      expect(runs).toEqual(runs.map((_, index) => `${id}#${index + 1}`));
    }
    expect(summary).toMatchObject({ skipped: 4, errors: 1, earlyStop: true });
    expect(summary.passAtK[1]).toBeCloseTo(1 / 3);
    expect(summary.passAtK[2]).toBeCloseTo(3 / 4);
    expect(summary.passAtK[3]).toBeCloseTo(3 / 4);
    const markdown = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(markdown).toContain('4 not needed (early stop)');
    expect(markdown).toContain('(early stop: a task counts from its first correct run on)');

    // A resume runs only the run that ended in error: every other task is answered or has had its runs.
    const again = fakeRunner(rightAnswer);
    const resumed = await runEval(options({ tasks: tasks(4), runs: 3, runTask: again.runTask, earlyStop: true }));
    expect(again.state.calls).toEqual(['t4#1']);
    expect(resumed).toMatchObject({ errors: 0, skipped: 4 });
    expect(resumed.passAtK[1]).toBeCloseTo(2 / 4);
  });

  it('reports accuracy by GAIA level when tasks carry one', async () => {
    const levelled = tasks(5).map((task, index) => ({ ...task, level: String((index % 2) + 1) }));
    const { runTask } = fakeRunner(answerWith((task) => (task.task_id === 't3' ? 'no' : task.answer)));
    const summary = await runEval(options({ tasks: levelled, runTask }));
    expect(summary.levels).toEqual([
      { level: '1', tasks: 3, exact: { correct: 2, of: 3, accuracy: 2 / 3 }, passAtK: 2 / 3 },
      { level: '2', tasks: 2, exact: { correct: 2, of: 2, accuracy: 1 }, passAtK: 1 },
    ]);
    const markdown = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(markdown).toContain('| level | tasks | exact | pass@1 |');
    expect(markdown).toContain('| 1 | 3 | 2/3 = 66.7% | 66.7% |');
    expect(markdown).toContain('| 2 | 2 | 2/2 = 100.0% | 100.0% |');
    expect(results().find((line) => line.task_id === 't2')).toMatchObject({ level: '2' });
  });

  it('runs with no time limit when it is Infinity', async () => {
    const { runTask } = fakeRunner(rightAnswer);
    const summary = await runEval(options({ tasks: tasks(2), runTask, timeLimitMs: Infinity }));
    expect(summary.exact.correct).toBe(2);
  });

  it('rejects bad runs, concurrency, time limit and duplicate tasks', async () => {
    const { runTask } = fakeRunner(rightAnswer);
    await expect(runEval(options({ tasks: tasks(1), runTask, runs: 0 }))).rejects.toThrow(/runs/);
    await expect(runEval(options({ tasks: tasks(1), runTask, concurrency: 1.5 }))).rejects.toThrow(/concurrency/);
    await expect(runEval(options({ tasks: tasks(1), runTask, timeLimitMs: 0 }))).rejects.toThrow(/timeLimitMs/);
    await expect(runEval(options({ tasks: [...tasks(2), ...tasks(1)], runTask }))).rejects.toThrow(/duplicate task_id "t1"/);
  });
});

describe('readTasks', () => {
  it('reads one task a line, resolving a relative file against the tasks file', () => {
    const path = join(dir, 'tasks.jsonl');
    mkdirSync(join(dir, 'files'));
    writeFileSync(join(dir, 'files', 'a.pdf'), '%PDF-1.4');
    writeFileSync(path, ['{"task_id":"a","question":"Q1","answer":"x","file":"files/a.pdf"}', '', '{"task_id":7,"question":"Q2","answer":42,"file":null}', ''].join('\n'));
    expect(readTasks(path)).toEqual([
      { task_id: 'a', question: 'Q1', answer: 'x', file: join(dir, 'files/a.pdf') },
      { task_id: '7', question: 'Q2', answer: '42' },
    ]);
  });

  it("reads GAIA's and MiroThinker's keys: file_name, Level, task_question, ground_truth, metadata.Level", () => {
    const path = join(dir, 'metadata.jsonl');
    writeFileSync(join(dir, 'sheet.xlsx'), 'x');
    writeFileSync(
      path,
      [
        '{"task_id":"g1","Question":"Q1","Final answer":"17","file_name":"sheet.xlsx","Level":2}',
        '{"task_id":"g2","Question":"Q2","Final answer":"x","file_name":"","Level":"1"}',
        '{"task_id":"m1","task_question":"Q3","ground_truth":"y","metadata":{"Level":3}}',
      ].join('\n'),
    );
    expect(readTasks(path)).toEqual([
      { task_id: 'g1', question: 'Q1', answer: '17', file: join(dir, 'sheet.xlsx'), level: '2' },
      { task_id: 'g2', question: 'Q2', answer: 'x', level: '1' },
      { task_id: 'm1', question: 'Q3', answer: 'y', level: '3' },
    ]);
  });

  it('finds attached files in --files DIR, and lists the missing ones before anything runs', () => {
    const files = join(dir, 'attachments');
    mkdirSync(files);
    writeFileSync(join(files, 'a.csv'), 'x,y\n');
    const path = join(dir, 'tasks.jsonl');
    writeFileSync(path, ['{"task_id":"a","question":"Q","file_name":"a.csv"}', '{"task_id":"b","question":"Q","file_name":"b.csv"}'].join('\n'));
    try {
      readTasks(path, { filesDir: files });
      expect.unreachable();
    } catch (error) {
      expect(isFathomError(error, 'invalid_argument')).toBe(true);
      expect((error as Error).message).toContain(`line 2: the attached file ${join(files, 'b.csv')} does not exist`);
      expect((error as FathomError).hint).toContain('--files DIR');
    }
    writeFileSync(join(files, 'b.csv'), 'x\n');
    expect(readTasks(path, { filesDir: files }).map((task) => task.file)).toEqual([join(files, 'a.csv'), join(files, 'b.csv')]);
    expect(() => readTasks(path, { filesDir: join(dir, 'nowhere') })).toThrow(/No folder at .*nowhere \(--files\)/);
  });

  it('lists every problem with its line number, and runs nothing', () => {
    const path = join(dir, 'tasks.jsonl');
    writeFileSync(
      path,
      [
        '{"task_id":"a","question":"Q1"}',
        '{"task_id":"b","question":',
        '{"task_id":"c"}',
        '{"task_id":"a","question":"again"}',
        '["not", "an", "object"]',
        '{"question":"no id","answer":["x"]}',
      ].join('\n'),
    );
    try {
      readTasks(path);
      expect.unreachable();
    } catch (error) {
      expect(isFathomError(error, 'invalid_argument')).toBe(true);
      const message = (error as Error).message;
      expect(message).toContain('5 problems');
      expect(message).toMatch(/line 2: not valid JSON/);
      expect(message).toContain('line 3: missing question');
      expect(message).toContain('line 4: duplicate task_id "a" (first on line 1)');
      expect(message).toContain('line 5: not a JSON object');
      expect(message).toContain('line 6: missing task_id; answer is not a string');
      expect(message).not.toContain('line 1:');
      expect((error as FathomError).details?.problems).toHaveLength(5);
    }
  });

  it('rejects an empty or missing file', () => {
    const path = join(dir, 'empty.jsonl');
    writeFileSync(path, '\n\n');
    expect(() => readTasks(path)).toThrow(/no tasks/);
    expect(() => readTasks(join(dir, 'none.jsonl'))).toThrow(/No tasks file/);
  });
});

describe('helpers', () => {
  it('passAtK is the unbiased estimator', () => {
    expect(passAtK(2, 1, 1)).toBeCloseTo(0.5);
    expect(passAtK(2, 1, 2)).toBe(1);
    expect(passAtK(4, 0, 2)).toBe(0);
    expect(passAtK(4, 1, 2)).toBeCloseTo(0.5);
  });

  it('pass@k counts a task only when it has k finished runs', () => {
    const line = (task_id: string, run: number, correct: boolean): ResultLine => ({ task_id, run, status: 'answered', correct, answer: 'a', truth: 'a', turns: 1, tool_calls: 1, tokens: 1, ms: 1, trace: '' });
    const summary = summarize([line('a', 1, true), line('a', 2, false), line('b', 1, false)], [{ task_id: 'a', question: 'q' }, { task_id: 'b', question: 'q' }], 2);
    expect(summary.passAtK[1]).toBeCloseTo(0.25);
    expect(summary.passAtK[2]).toBe(1);
  });

  it('tracePathFor keeps ids readable and distinct', () => {
    expect(tracePathFor('c61d22de-5f6c-4958-a7f6-5e9707bd3466', 2)).toBe(join('traces', 'c61d22de-5f6c-4958-a7f6-5e9707bd3466-run2.jsonl'));
    const slash = tracePathFor('a/b', 1);
    expect(slash).toMatch(/^traces[\\/]a_b-[0-9a-f]{8}-run1\.jsonl$/);
    expect(slash).not.toBe(tracePathFor('a_b', 1));
    expect(slash).not.toBe(tracePathFor('a:b', 1));
  });

  it('progressLine shows the bar, counts, accuracy, runs without an answer, errors, elapsed and ETA', () => {
    const base = { resumed: 0, skipped: 0, errors: 0 };
    const line = progressLine({ ...base, done: 5, total: 20, running: 2, scored: 4, correct: 3, failures: 1, errors: 1, elapsedMs: 65_000, etaMs: 195_000 }, 10);
    expect(line).toBe('[██░░░░░░░░] 5/20  acc 75.0%  no answer 1  err 1  running 2  1m 05s  eta 3m 15s');
    expect(progressLine({ ...base, done: 0, total: 3, running: 0, scored: 0, correct: 0, failures: 0, elapsedMs: 0 }, 4)).toBe('[░░░░] 0/3  acc —  no answer 0  err 0  0ms  eta —');
  });

  it('progressRecord is one plain line per finished run, none before the first', () => {
    const base = { resumed: 0, skipped: 0, running: 0, total: 3, scored: 1, correct: 1, failures: 0, errors: 0, elapsedMs: 2000 };
    expect(progressRecord({ ...base, done: 0 })).toBeUndefined();
    const last: ResultLine = { task_id: 't1', run: 1, status: 'answered', answer: '42', truth: '42', correct: true, turns: 5, tool_calls: 4, tokens: 9, ms: 12_300, trace: 'x' };
    expect(progressRecord({ ...base, done: 1, last })).toBe('1/3  t1 run 1: correct "42" (5 turns, 4 tool calls, 12.3s)  acc 100.0%  no answer 0  err 0  2.0s  eta —');
    const failed: ResultLine = { ...last, status: 'error', answer: null, correct: null, error: 'The model endpoint\ncannot be reached' };
    expect(progressRecord({ ...base, done: 2, errors: 1, last: failed })).toMatch(/^2\/3 {2}t1 run 1: error: The model endpoint cannot be reached \(5 turns/);
    expect(progressRecord({ ...base, done: 2, errors: 1, last: failed })).not.toContain('\r');
  });
});
