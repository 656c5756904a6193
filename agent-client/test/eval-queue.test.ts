import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startModelServer, thinking, toolCallBlock } from '../../tests/fixtures/model-server.js';
import type { ModelRequest, ModelServer, ModelTurn } from '../../tests/fixtures/model-server.js';
import { FATHOM_BIN, TEST_CACHE, spawnNode, waitFor } from '../../tests/helpers.js';
import type { Spawned } from '../../tests/helpers.js';
import { skipWithoutRedis, startRedis, startTcpProxy } from '../../tests/services.js';
import type { RedisService } from '../../tests/services.js';
import { readResults } from '../src/eval.js';
import { EvalBook } from '../src/eval/book.js';
import { readTrace } from '../src/trace.js';

// fathom eval --queue and fathom worker as real processes, on a redis-server of the test's own,
// against the scripted model and real python-sandbox servers started by each worker.

const work = mkdtempSync(join(tmpdir(), 'fathom-eval-queue-'));
const messagesOf = (request: ModelRequest) => request.body.messages as { role: string; content: string }[];
const firstUser = (request: ModelRequest) => messagesOf(request).find((message) => message.role === 'user')?.content ?? '';
const lastUser = (request: ModelRequest) => messagesOf(request).filter((message) => message.role === 'user').at(-1)?.content ?? '';
const taskOf = (request: ModelRequest) => /Answer (\d+)/.exec(firstUser(request))?.[1] ?? '?';

/** A sandbox, a computation in it, then the task's number boxed. */
function sandboxScript(request: ModelRequest): ModelTurn {
  const value = taskOf(request);
  if (lastUser(request).startsWith('Summarize the above conversation')) return { content: `\\boxed{${value}}` };
  const step = messagesOf(request).filter((message) => message.role === 'assistant').length;
  if (step === 0) return { content: thinking('A sandbox first.') + toolCallBlock('tool-python', 'create_sandbox', {}) };
  if (step === 1) {
    const id = /sandbox_id: (\S+)/.exec(lastUser(request))?.[1] ?? 'missing';
    return { content: toolCallBlock('tool-python', 'run_python_code', { sandbox_id: id, code_block: `print(${value} * 1)` }) };
  }
  return { content: thinking('Done.') + `It is \\boxed{${value}}.` };
}

let script: (request: ModelRequest, index: number) => ModelTurn = sandboxScript;
let model: ModelServer;
let redis: RedisService | undefined;
const running: Spawned[] = [];

/** A worker's agent config: python-sandbox in the mirothinker profile, its sandboxes kept in `stateDir`, no warm pool. */
function workerConfig(stateDir: string): string {
  const env = { FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' };
  const servers = {
    'tool-python': { command: process.execPath, args: [FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--warm-pool', '0', '--state-dir', stateDir], env },
  };
  const path = join(work, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ mcpServers: servers, model: { retries: 1 } }));
  return path;
}

function tasksFile(numbers: number[]): string {
  const path = join(work, `tasks-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(path, numbers.map((n) => JSON.stringify({ task_id: `t${n}`, question: `Answer ${n}`, answer: String(n) })).join('\n'));
  return path;
}

function sandboxes(stateDir: string): string[] {
  if (!existsSync(stateDir)) return [];
  return readdirSync(stateDir, { recursive: true, encoding: 'utf8' }).filter((path) => /(^|\/)sbx_[0-9a-f]+$/.test(path));
}

function startWorker(name: string, queueUrl: string, stateDir: string, ...extra: string[]): Spawned {
  const worker = spawnNode([FATHOM_BIN, 'worker', '--queue', queueUrl, '--name', name, '--config', workerConfig(stateDir), '--concurrency', '2', ...extra], { FATHOM_MODEL_API_KEY: 'test' });
  running.push(worker);
  return worker;
}

function startEval(tasks: string, out: string, ...extra: string[]): Spawned {
  const evalProcess = spawnNode([FATHOM_BIN, 'eval', tasks, '--queue', redis!.url, '--out', out, '--base-url', model.baseUrl, '--time-limit', '5', ...extra], { FATHOM_MODEL_API_KEY: 'test' });
  running.push(evalProcess);
  return evalProcess;
}

async function stop(spawned: Spawned, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (spawned.child.exitCode === null && spawned.child.signalCode === null) spawned.child.kill(signal);
  await spawned.exited;
}

describe('fathom eval --queue with fathom worker', { timeout: 180_000 }, () => {
  if (skipWithoutRedis()) return;

  beforeAll(async () => {
    model = await startModelServer({ script: (request, index) => script(request, index) });
  });
  afterAll(async () => {
    await model.close();
  });
  beforeEach(async () => {
    script = sandboxScript;
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const spawned of running.splice(0)) {
      spawned.child.kill('SIGCONT');
      await stop(spawned, 'SIGKILL');
    }
    await redis?.stop();
  });

  it('shares the runs among two workers, records each once with its trace, and each run closes its sandboxes', async () => {
    const state = join(work, 'state-share');
    const tasks = tasksFile([1, 2, 3, 4, 5, 6]);
    const out = join(work, 'out-share');
    const a = startWorker('wA', redis!.url, state);
    const b = startWorker('wB', redis!.url, state);
    const evaluation = startEval(tasks, out, '--runs', '2');
    expect((await evaluation.exited).code, evaluation.stderr()).toBe(0);

    const lines = readResults(join(out, 'results.jsonl'));
    expect(lines).toHaveLength(12);
    expect(new Set(lines.map((line) => `${line.task_id}/${line.run}`)).size).toBe(12);
    expect(lines.every((line) => line.status === 'answered' && line.correct === true)).toBe(true);
    for (const line of lines) {
      const trace = readTrace(join(out, line.trace));
      expect(trace.some((event) => event.type === 'tool_result')).toBe(true);
    }
    expect(a.stderr()).toMatch(/→ answered/);
    expect(b.stderr()).toMatch(/→ answered/);
    // The live view names the workers holding runs.
    expect(evaluation.stderr()).toMatch(/running \d+ \((wA|wB) \d/);
    // Every run's sandbox closed with its run, while the workers and their servers go on.
    expect(sandboxes(state)).toEqual([]);
    expect(a.child.exitCode).toBeNull();
    // The eval is cleared from Redis once recorded.
    const client = new Redis(redis!.url);
    expect(await client.smembers('fathom:evals')).toEqual([]);
    expect(await client.keys('fathom:q:out-share:*')).toEqual([]);
    client.disconnect();
    // A worker told to stop closes its queue connections and servers, and exits.
    a.child.kill('SIGTERM');
    expect(await a.exited).toEqual({ code: 0, signal: null });
  });

  it("gives a stopped worker's run to another once its lock expires, and counts it once when the first comes back", async () => {
    const state = join(work, 'state-stall');
    const tasks = tasksFile([7]);
    const out = join(work, 'out-stall');
    const a = startWorker('wA', redis!.url, state, '--lock-seconds', '2');
    const evaluation = startEval(tasks, out);
    const before = model.requests.length;
    await waitFor(() => model.requests.length > before, 30_000, 'wA to ask the model');
    a.child.kill('SIGSTOP');
    const b = startWorker('wB', redis!.url, state, '--lock-seconds', '2');
    expect((await evaluation.exited).code, evaluation.stderr()).toBe(0);
    expect(b.stderr()).toMatch(/t7 run 1 → answered/);

    a.child.kill('SIGCONT');
    await waitFor(() => /t7 run 1 → answered/.test(a.stderr()), 60_000, 'wA to finish its copy of the run');
    // Run the eval again: nothing is left to record, and the run has one line.
    const again = startEval(tasks, out);
    expect((await again.exited).code, again.stderr()).toBe(0);
    const lines = readResults(join(out, 'results.jsonl'));
    expect(lines.map((line) => [line.task_id, line.run, line.status])).toEqual([['t7', 1, 'answered']]);
  });

  it('goes on with a run while the worker has lost Redis, and sends it back once reconnected', async () => {
    const proxy = await startTcpProxy(redis!.port);
    try {
      const state = join(work, 'state-outage');
      const out = join(work, 'out-outage');
      const worker = startWorker('wA', `redis://127.0.0.1:${proxy.port}/0`, state);
      const before = model.requests.length;
      const evaluation = startEval(tasksFile([8]), out);
      await waitFor(() => model.requests.length > before, 30_000, 'the worker to start the run');
      proxy.cut();
      // The run reaches its answer without Redis.
      await waitFor(() => /t8 run 1 → answered/.test(worker.stderr()), 60_000, 'the run to end while Redis is out of reach');
      expect(existsSync(join(out, 'results.jsonl')) ? readResults(join(out, 'results.jsonl')) : []).toEqual([]);
      proxy.restore();
      expect((await evaluation.exited).code, evaluation.stderr()).toBe(0);
      expect(readResults(join(out, 'results.jsonl')).map((line) => line.status)).toEqual(['answered']);
    } finally {
      await proxy.close();
    }
  });

  it('resumes after the eval itself was killed, recording what the workers finished meanwhile', async () => {
    const state = join(work, 'state-resume');
    const tasks = tasksFile([11, 12, 13, 14]);
    const out = join(work, 'out-resume');
    const first = startEval(tasks, out);
    await waitFor(async () => {
      const client = new Redis(redis!.url);
      try {
        return (await client.scard('fathom:evals')) === 1 && (await client.llen('fathom:q:out-resume:wait')) === 4;
      } finally {
        client.disconnect();
      }
    }, 30_000, 'the runs on the queue');
    await stop(first, 'SIGKILL');
    const worker = startWorker('wA', redis!.url, state);
    await waitFor(() => (worker.stderr().match(/→ answered/g) ?? []).length === 4, 90_000, 'the worker to finish the four runs');
    const second = startEval(tasks, out);
    expect((await second.exited).code, second.stderr()).toBe(0);
    const lines = readResults(join(out, 'results.jsonl'));
    expect(lines.map((line) => line.task_id).sort()).toEqual(['t11', 't12', 't13', 't14']);
    expect(lines.every((line) => line.correct === true)).toBe(true);
  });

  it('retries a run the infrastructure failed a bounded number of times, then records it as an error, not an answer', async () => {
    const down = '9';
    script = (request) => (taskOf(request) === down ? { status: 503 } : sandboxScript(request));
    const state = join(work, 'state-retry');
    const out = join(work, 'out-retry');
    const worker = startWorker('wA', redis!.url, state);
    const evaluation = startEval(tasksFile([9, 10]), out, '--retries', '1', '--retry-delay', '0.2');
    expect((await evaluation.exited).code, evaluation.stderr()).toBe(1);
    const lines = readResults(join(out, 'results.jsonl'));
    const failed = lines.find((line) => line.task_id === 't9')!;
    expect(failed).toMatchObject({ status: 'error', answer: null, correct: null, failure: 'model error' });
    expect(lines.find((line) => line.task_id === 't10')).toMatchObject({ status: 'answered', correct: true });
    // Two attempts (one retry), no third.
    expect(worker.stderr()).toContain('t9 run 1 (attempt 1 of 2)');
    expect(worker.stderr()).toContain('t9 run 1 (attempt 2 of 2)');
    expect(worker.stderr()).toMatch(/t9 run 1 → error/);
    expect(worker.stderr()).not.toContain('attempt 3');
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toMatch(/1 ended in error/);
  });
});

describe('EvalBook', () => {
  it('writes a run once: a second line for a run already recorded is dropped', () => {
    const out = mkdtempSync(join(work, 'book-'));
    const book = new EvalBook({ tasks: [{ task_id: 'a', question: 'q', answer: '1' }], runs: 1, outDir: out });
    const line = { task_id: 'a', run: 1, status: 'answered' as const, answer: '1', truth: '1', correct: true, turns: 1, tool_calls: 0, tokens: 1, ms: 1, trace: 'traces/a-run1.jsonl' };
    expect(book.record(line, Buffer.from('first'))).toBe(true);
    expect(book.record({ ...line, answer: '2', correct: false }, Buffer.from('second'))).toBe(false);
    expect(readResults(join(out, 'results.jsonl'))).toEqual([line]);
    expect(readFileSync(join(out, 'traces/a-run1.jsonl'), 'utf8')).toBe('first');
  });
});
