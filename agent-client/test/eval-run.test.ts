import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, thinking, toolCallBlock } from '../../tests/fixtures/model-server.js';
import type { ModelRequest, ModelServer, ModelTurn } from '../../tests/fixtures/model-server.js';
import { startProviderFakes } from '../../tests/fixtures/providers.js';
import type { ProviderFakes } from '../../tests/fixtures/providers.js';
import { FATHOM_BIN, ROOT, TEST_CACHE, freePort, spawnNode, waitFor } from '../../tests/helpers.js';
import { agentConfig, runTask } from '../src/agent.js';
import { serverEnvironment } from '../src/config.js';
import type { ServerEntry } from '../src/config.js';
import { Connections } from '../src/mcp.js';
import type { ConnectionEvent } from '../src/mcp.js';
import { readResults, readTasks, runEval } from '../src/eval.js';
import type { EvalTask, TaskResult } from '../src/eval.js';
import { SharedServers, fathomServer } from '../src/servers.js';
import { promptsOf, readTrace } from '../src/trace.js';

const logger = createLogger('eval-run-test', { level: 'silent' });
const work = mkdtempSync(join(tmpdir(), 'fathom-eval-run-'));
let fakes: ProviderFakes;
let model: ModelServer;
let script: (request: ModelRequest, index: number) => ModelTurn = () => ({ content: 'no script' });

const messagesOf = (request: ModelRequest) => request.body.messages as { role: string; content: string }[];
const firstUser = (request: ModelRequest) => messagesOf(request).find((message) => message.role === 'user')?.content ?? '';
const lastUser = (request: ModelRequest) => messagesOf(request).filter((message) => message.role === 'user').at(-1)?.content ?? '';
const isSummary = (request: ModelRequest) => lastUser(request).startsWith('Summarize the above conversation');

/** Fathom's three servers in the mirothinker profile over stdio, sandboxes kept in `stateDir` and no warm pool (so every sandbox seen belongs to a task). */
function configFile(stateDir: string, model: Record<string, unknown> = {}): string {
  const env = { FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' };
  const search = (endpoint: string) => ({
    command: process.execPath,
    args: [FATHOM_BIN, 'search', '--profile', 'mirothinker', '--endpoint', endpoint, '--egress-allow', '127.0.0.1', '--cache-mode', 'off', '--search-providers', 'serper', ...Object.entries(fakes.flags).flatMap(([key, value]) => [`--${key}`, value])],
    env,
  });
  const servers = {
    'tool-python': { command: process.execPath, args: [FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--warm-pool', '0', '--state-dir', stateDir], env },
    search_and_scrape_webpage: search('search_and_scrape_webpage'),
    jina_scrape_llm_summary: search('jina_scrape_llm_summary'),
  };
  const path = join(work, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ mcpServers: servers, model: { retries: 1, ...model } }));
  return path;
}

/** Per task: a sandbox, a computation in it, a search, then the task's number boxed. */
function researchScript(request: ModelRequest): ModelTurn {
  const value = /Answer (\d+)/.exec(firstUser(request))?.[1] ?? '?';
  if (isSummary(request)) return { content: `\\boxed{${value}}` };
  const step = messagesOf(request).filter((message) => message.role === 'assistant').length;
  if (step === 0) return { content: thinking('A sandbox first.') + toolCallBlock('tool-python', 'create_sandbox', {}) };
  if (step === 1) {
    const id = /sandbox_id: (\S+)/.exec(lastUser(request))?.[1] ?? 'missing';
    return { content: toolCallBlock('tool-python', 'run_python_code', { sandbox_id: id, code_block: `print(${value} * 1)` }) };
  }
  if (step === 2) return { content: toolCallBlock('search_and_scrape_webpage', 'google_search', { q: `number ${value}` }) };
  return { content: thinking('Done.') + `It is \\boxed{${value}}.` };
}

function tasksFile(count: number): string {
  const path = join(work, `tasks-${count}-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(path, Array.from({ length: count }, (_, index) => JSON.stringify({ task_id: `t${index + 1}`, question: `Answer ${index + 1}`, answer: String(index + 1), Level: (index % 3) + 1 })).join('\n'));
  return path;
}

/** Sandbox folders (sbx_*) under a state folder, whatever server made them. */
function sandboxes(stateDir: string): string[] {
  if (!existsSync(stateDir)) return [];
  return readdirSync(stateDir, { recursive: true, encoding: 'utf8' }).filter((path) => /(^|\/)sbx_[0-9a-f]+$/.test(path));
}

/**
 * python-sandbox server processes (not their sandboxes) started with this state folder. A server
 * forking a sandbox shows its own command line in the child until the child execs bwrap: a match
 * whose parent matched too is that child, not a second server.
 */
function sandboxServers(stateDir: string): number[] {
  const parents = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!command.includes('python-sandbox') || !command.includes(stateDir) || command.includes('bwrap')) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parents.set(Number(pid), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone already
    }
  }
  return [...parents].filter(([, parent]) => !parents.has(parent)).map(([pid]) => pid);
}

beforeAll(async () => {
  [fakes, model] = await Promise.all([startProviderFakes(), startModelServer({ model: 'miromind-ai/MiroThinker-v1.0-8B', script: (request, index) => script(request, index) })]);
});

afterAll(async () => {
  await Promise.all([fakes?.close(), model?.close()]);
  // A server the runs started may still be removing its own state folder: retry on ENOTEMPTY.
  rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
});

describe('fathom eval, end to end', () => {
  it('records the runs the model was down for as errors, exits 1, and a resume runs only those, once', async () => {
    const stateDir = join(work, 'sandboxes-cli');
    const config = configFile(stateDir);
    const tasks = tasksFile(4);
    const out = join(work, 'eval-cli');
    const down = new Set(['Answer 1', 'Answer 2']);
    script = (request) => (down.has(firstUser(request).split('\n')[0]!) ? { status: 503 } : researchScript(request));
    const args = [FATHOM_BIN, 'eval', tasks, '--out', out, '--concurrency', '1', '--config', config, '--agent-config', 'mirothinker_v1.0', '--base-url', model.baseUrl];

    const first = spawnNode(args);
    expect((await first.exited).code).toBe(1);
    const errors = readResults(join(out, 'results.jsonl'));
    expect(errors.map((line) => [line.task_id, line.status])).toEqual([
      ['t1', 'error'],
      ['t2', 'error'],
      ['t3', 'answered'],
      ['t4', 'answered'],
    ]);
    expect(errors[0]).toMatchObject({ correct: null, failure: 'model error', stop: 'model_error' });
    expect(errors[0]!.error).toContain('HTTP 503');
    expect(errors.slice(2).every((line) => line.correct === true && line.tool_calls === 3)).toBe(true);
    const stderr = first.stderr();
    // No model named: the only one served is taken, and the live view says so.
    expect(stderr).toContain(`model miromind-ai/MiroThinker-v1.0-8B: the only one ${model.baseUrl} serves`);
    expect(stderr).toContain('tool-python: one python-sandbox process for every task');
    // Not a terminal: one plain line per run, no carriage returns.
    expect(stderr).not.toContain('\r');
    expect(stderr).toMatch(/^1\/4 {2}t1 run 1: error: .*HTTP 503/m);
    expect(stderr).toMatch(/^3\/4 {2}t3 run 1: correct "3" \(4 turns, 3 tool calls, /m);
    expect(stderr).toContain('2 runs ended in error and are not scored: run the same command again to run them');
    expect(first.stdout()).toContain('- Runs: 4 tasks × 1 run = 4 (2 finished, 2 ended in error)');
    expect(first.stdout()).toContain('- Exact match: 2/2 = 100.0%');

    // The model is back: only the two runs in error run again.
    down.clear();
    const before = model.requests.length;
    const second = spawnNode(args);
    expect((await second.exited).code).toBe(0);
    const asked = new Set(model.requests.slice(before).map((request) => firstUser(request).split('\n')[0]));
    expect([...asked].sort()).toEqual(['Answer 1', 'Answer 2']);
    const lines = readResults(join(out, 'results.jsonl'));
    expect(lines.map((line) => `${line.task_id}#${line.run}`).sort()).toEqual(['t1#1', 't2#1', 't3#1', 't4#1']);
    expect(lines.every((line) => line.status === 'answered' && line.correct === true)).toBe(true);
    const summary = readFileSync(join(out, 'summary.md'), 'utf8');
    expect(summary).toContain('- Runs: 4 tasks × 1 run = 4 (all finished)');
    expect(summary).toContain('- Exact match: 4/4 = 100.0%');
    expect(summary).toContain('| 1 | 2 | 2/2 = 100.0% | 100.0% |');
    expect(summary).not.toContain('Errors:');
    expect(existsSync(join(out, 'interaction-scaling.svg'))).toBe(true);
    // The shared servers are gone with the eval, and took their sandboxes with them.
    expect(sandboxServers(stateDir)).toEqual([]);
    expect(sandboxes(stateDir)).toEqual([]);

    // A trace keeps every request's messages: the run can be replayed exactly.
    const trace = readTrace(join(out, lines.find((line) => line.task_id === 't3')!.trace));
    const sent = model.requests.filter((request) => firstUser(request).startsWith('Answer 3\n')).map((request) => ({ messages: request.body.messages }));
    expect(sent.length).toBeGreaterThan(3);
    expect(promptsOf(trace)).toEqual(sent);
  }, 180_000);

  it('fails in seconds, before any task, when nothing answers at the base URL', async () => {
    const port = await freePort();
    const out = join(work, 'eval-refused');
    const started = Date.now();
    const run = spawnNode([FATHOM_BIN, 'eval', tasksFile(2), '--out', out, '--base-url', `http://127.0.0.1:${port}/v1`, '--model', 'm']);
    expect((await run.exited).code).toBe(2);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.stderr()).toContain(`nothing is listening at 127.0.0.1:${port} (connection refused)`);
    expect(run.stderr()).toContain('--base-url');
    expect(existsSync(join(out, 'results.jsonl'))).toBe(false);
  }, 60_000);
});

describe('runEval on shared servers', () => {
  it("runs tasks at once on one set of server processes; a finished task's sandboxes are gone while the servers go on", async () => {
    const stateDir = join(work, 'sandboxes-shared');
    const configPath = configFile(stateDir);
    const config = agentConfig({ configPath, fathomBin: FATHOM_BIN });
    script = researchScript;
    const env = { ...process.env, FATHOM_MODEL_BASE_URL: model.baseUrl, FATHOM_MODEL: 'miromind-ai/MiroThinker-v1.0-8B' };
    const shared = await SharedServers.start(config.mcpServers, { fathomBin: FATHOM_BIN, logger, env: serverEnvironment(env), concurrency: 3 });
    const servers = shared.processes();
    expect(servers.map((server) => [server.server, server.names])).toEqual([
      ['python-sandbox', ['tool-python']],
      ['search', ['search_and_scrape_webpage', 'jina_scrape_llm_summary']],
    ]);
    const observed: { id: string; leftOver: boolean; serverPids: number[] }[] = [];
    try {
      const summary = await runEval({
        tasks: readTasks(tasksFile(6)),
        runs: 1,
        concurrency: 3,
        outDir: join(work, 'eval-shared'),
        timeLimitMs: 120_000,
        runTask: async (task: EvalTask, _run, context): Promise<TaskResult> => {
          const result = await runTask({ task: task.question, configPath, servers: shared.mcpServers, protocol: 'mirothinker', agentConfig: 'mirothinker_v1.0', tracePath: context.tracePath, fathomBin: FATHOM_BIN, logger, env, signal: context.signal });
          const id = /sandbox_id: (sbx_[0-9a-f]+)/.exec(result.messages.map((message) => message.content).join('\n'))?.[1] ?? 'none';
          observed.push({ id, leftOver: sandboxes(stateDir).some((path) => path.endsWith(id)), serverPids: sandboxServers(stateDir) });
          return { ...(result.answer !== undefined ? { answer: result.answer } : {}), turns: result.turns, toolCalls: result.toolCalls, tokens: result.tokens, ms: result.ms, stop: result.stop };
        },
      });
      expect(summary).toMatchObject({ finished: 6, errors: 0, exact: { correct: 6, of: 6 } });
      expect(new Set(observed.map((entry) => entry.id)).size).toBe(6);
      expect(observed.filter((entry) => !entry.id.startsWith('sbx_') || entry.leftOver)).toEqual([]);
      // One sandbox server, the same one, for every task.
      expect(observed.every((entry) => entry.serverPids.length === 1 && entry.serverPids[0] === servers[0]!.pid)).toBe(true);
      expect(sandboxes(stateDir)).toEqual([]);
    } finally {
      await shared.close();
    }
    expect(sandboxServers(stateDir)).toEqual([]);
  }, 180_000);

  it('records an unreachable model as an error and answers once it is back', async () => {
    const stateDir = join(work, 'sandboxes-down');
    const configPath = configFile(stateDir);
    const config = agentConfig({ configPath, fathomBin: FATHOM_BIN });
    script = researchScript;
    const env = { ...process.env, FATHOM_MODEL_BASE_URL: model.baseUrl, FATHOM_MODEL: 'miromind-ai/MiroThinker-v1.0-8B' };
    const shared = await SharedServers.start(config.mcpServers, { fathomBin: FATHOM_BIN, logger, env: serverEnvironment(env), concurrency: 1 });
    const outDir = join(work, 'eval-down');
    const tasks = readTasks(tasksFile(3));
    const run = (onStart: (task: EvalTask) => Promise<void>) =>
      runEval({
        tasks,
        runs: 1,
        concurrency: 1,
        outDir,
        timeLimitMs: 120_000,
        runTask: async (task, _run, context) => {
          await onStart(task);
          const result = await runTask({ task: task.question, configPath, servers: shared.mcpServers, protocol: 'mirothinker', agentConfig: 'mirothinker_v1.0', tracePath: context.tracePath, fathomBin: FATHOM_BIN, logger, env, signal: context.signal });
          return { ...(result.answer !== undefined ? { answer: result.answer } : {}), turns: result.turns, toolCalls: result.toolCalls, tokens: result.tokens, ms: result.ms, stop: result.stop, ...(result.error ? { error: result.error } : {}) };
        },
      });
    try {
      await model.down();
      const first = await run(async (task) => {
        if (task.task_id === 't3') await model.up();
      });
      expect(first).toMatchObject({ errors: 2, finished: 1 });
      const lines = readResults(join(outDir, 'results.jsonl'));
      expect(lines.find((line) => line.task_id === 't1')).toMatchObject({ status: 'error', stop: 'model_error' });
      expect(lines.find((line) => line.task_id === 't1')!.error).toContain('ECONNREFUSED');
      const rerun: string[] = [];
      const second = await run(async (task) => void rerun.push(task.task_id));
      expect(rerun).toEqual(['t1', 't2']);
      expect(second).toMatchObject({ errors: 0, finished: 3, exact: { correct: 3, of: 3 } });
      expect(readResults(join(outDir, 'results.jsonl'))).toHaveLength(3);
    } finally {
      await model.up().catch(() => undefined);
      await shared.close();
    }
  }, 180_000);
});

describe('SharedServers', () => {
  it("shares only Fathom's own servers, and names one that does not start", async () => {
    const slow: ServerEntry = { command: process.execPath, args: [join(ROOT, 'tests/fixtures/slow-server.mjs')], env: {} };
    const remote: ServerEntry = { type: 'http', url: 'http://127.0.0.1:9/mcp', headers: {} };
    const files: ServerEntry = { command: 'node', args: [FATHOM_BIN, 'files'], env: {} };
    expect(fathomServer(slow, FATHOM_BIN)).toBeUndefined();
    expect(fathomServer(remote, FATHOM_BIN)).toBeUndefined();
    expect(fathomServer(files, FATHOM_BIN)).toBe('files');
    expect(fathomServer({ ...files, args: [FATHOM_BIN, 'agent'] }, FATHOM_BIN)).toBeUndefined();
    const kept = await SharedServers.start({ slow, remote }, { fathomBin: FATHOM_BIN, logger, concurrency: 2 });
    expect(kept.mcpServers).toEqual({ slow, remote });
    expect(kept.processes()).toEqual([]);
    await kept.close();

    const broken: ServerEntry = { command: process.execPath, args: [FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--no-such-option', 'x'], env: {} };
    const started = SharedServers.start({ 'tool-python': broken, slow }, { fathomBin: FATHOM_BIN, logger, concurrency: 2 });
    await expect(started).rejects.toThrow(/The shared MCP servers did not start:\ntool-python: it exited during start-up \(code 2\); last stderr:\n.*no-such-option/);
    await expect(started).rejects.toMatchObject({ hint: expect.stringContaining('--process-per-task') });
  }, 60_000);

  it('starts a shared server that died again on its port, and a task on it goes on', async () => {
    const stateDir = join(work, 'sandboxes-restart');
    const entry: ServerEntry = { command: process.execPath, args: [FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--warm-pool', '0', '--state-dir', stateDir], env: { FATHOM_LOG_LEVEL: 'warn' } };
    const events: ConnectionEvent[] = [];
    const shared = await SharedServers.start({ 'tool-python': entry }, { fathomBin: FATHOM_BIN, logger, concurrency: 1, onEvent: (event) => events.push(event) });
    const connections = await Connections.open(shared.mcpServers, { logger });
    try {
      const [before] = shared.processes();
      const create = () => connections.call({ server: 'tool-python', tool: 'create_sandbox', arguments: {} });
      expect((await create()).text).toMatch(/^Sandbox created with sandbox_id: sbx_/);
      process.kill(before!.pid!, 'SIGKILL');
      await waitFor(() => events.some((event) => event.type === 'reconnect'), 30_000, 'the shared server to come back');
      expect(events.map((event) => event.type)).toEqual(['server_exit', 'reconnect']);
      const [after] = shared.processes();
      expect(after!.pid).not.toBe(before!.pid);
      expect(after!.port).toBe(before!.port);
      // The task's session died with the process: it opens a new one on the same URL.
      expect((await create()).text).toMatch(/^Sandbox created with sandbox_id: sbx_/);
    } finally {
      await connections.close();
      await shared.close();
    }
    expect(sandboxServers(stateDir)).toEqual([]);
  }, 90_000);
});
