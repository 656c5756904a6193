import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, thinking, toolCallBlock } from '../../tests/fixtures/model-server.js';
import type { ModelRequest, ModelServer, ModelTurn } from '../../tests/fixtures/model-server.js';
import { startProviderFakes } from '../../tests/fixtures/providers.js';
import type { ProviderFakes } from '../../tests/fixtures/providers.js';
import { startFixtureSite } from '../../tests/fixtures/site.js';
import type { FixtureSite } from '../../tests/fixtures/site.js';
import { FATHOM_BIN, TEST_CACHE, spawnNode, startHttpServer } from '../../tests/helpers.js';
import { runTask } from '../src/agent.js';
import type { TaskOptions } from '../src/agent.js';
import { readResults, readTasks, runEval } from '../src/eval.js';
import { readTrace } from '../src/trace.js';

const logger = createLogger('agent-test', { level: 'silent' });
const work = mkdtempSync(join(tmpdir(), 'fathom-agent-test-'));
const stateDir = join(work, 'sandboxes');
let fakes: ProviderFakes;
let site: FixtureSite;
let model: ModelServer;
/** The script the model follows in the current test. */
let script: (request: ModelRequest, index: number) => ModelTurn = () => ({ content: 'no script' });

const messagesOf = (request: ModelRequest) => request.body.messages as { role: string; content: string }[];
const lastUser = (request: ModelRequest) => messagesOf(request).filter((message) => message.role === 'user').at(-1)?.content ?? '';
const isSummary = (request: ModelRequest) => lastUser(request).startsWith('Summarize the above conversation');

function searchArgs(endpoint: string): string[] {
  return ['search', '--profile', 'mirothinker', '--endpoint', endpoint, '--egress-allow', '127.0.0.1', '--cache-mode', 'off', '--search-providers', 'serper', ...Object.entries(fakes.flags).flatMap(([key, value]) => [`--${key}`, value])];
}

/** Fathom's servers over stdio under the names MiroThinker knows. */
function stdioConfig(model: Record<string, unknown> = {}): string {
  const env = { FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' };
  const servers = {
    'tool-python': { command: process.execPath, args: [FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--warm-pool', '1', '--state-dir', stateDir], env },
    search_and_scrape_webpage: { command: process.execPath, args: [FATHOM_BIN, ...searchArgs('search_and_scrape_webpage')], env },
    jina_scrape_llm_summary: { command: process.execPath, args: [FATHOM_BIN, ...searchArgs('jina_scrape_llm_summary')], env },
  };
  const path = join(work, `config-${Date.now()}-${Math.random()}.json`);
  writeFileSync(path, JSON.stringify({ mcpServers: servers, model }));
  return path;
}

function options(configPath: string, extra: Partial<TaskOptions> = {}): TaskOptions {
  return {
    task: 'What is six times seven? Check it in Python.',
    configPath,
    protocol: 'mirothinker',
    // One attempt, as v1.0 was first evaluated; the multi-attempt regimes have their own tests.
    agentConfig: 'mirothinker_v1.0',
    maxTurns: 20,
    keep: 5,
    date: '2026-01-15',
    fathomBin: FATHOM_BIN,
    logger,
    env: { ...process.env, FATHOM_MODEL_BASE_URL: model.baseUrl, FATHOM_MODEL: 'miromind-ai/MiroThinker-v1.0-8B' },
    ...extra,
  };
}

/** Search, read a page, create a sandbox, compute, answer: the path of a real research task. */
function researchScript(article: { path: string }): (request: ModelRequest, index: number) => ModelTurn {
  return (request) => {
    if (isSummary(request)) return { content: thinking('The computation gave 42.') + 'The final answer is \\boxed{42}.' };
    const previous = lastUser(request);
    const step = messagesOf(request).filter((message) => message.role === 'assistant').length;
    switch (step) {
      case 0:
        return { content: thinking('Search first.') + toolCallBlock('search_and_scrape_webpage', 'google_search', { q: 'six times seven' }) };
      case 1:
        return { content: thinking('Read a page.') + toolCallBlock('jina_scrape_llm_summary', 'scrape_and_extract_info', { url: `${site.url}${article.path}`, info_to_extract: 'the catalogue code' }) };
      case 2:
        return { content: toolCallBlock('tool-python', 'create_sandbox', {}) };
      case 3: {
        const id = /sandbox_id: (\S+)/.exec(previous)?.[1] ?? 'missing';
        return { content: thinking('Compute it.') + toolCallBlock('tool-python', 'run_python_code', { sandbox_id: id, code_block: 'print(6 * 7)' }) };
      }
      default:
        return { content: thinking('Done.') + 'Six times seven is \\boxed{42}.' };
    }
  };
}

beforeAll(async () => {
  [fakes, site, model] = await Promise.all([startProviderFakes(), startFixtureSite(), startModelServer({ script: (request, index) => script(request, index) })]);
});

afterAll(async () => {
  await Promise.all([fakes?.close(), site?.close(), model?.close()]);
});

describe('fathom agent, mirothinker protocol, against real Fathom servers', () => {
  it('runs a multi-step task over stdio: search, scrape, Python, summary and \\boxed{} answer', async () => {
    const article = site.articles[0]!;
    script = researchScript(article);
    const before = model.requests.length;
    const tracePath = join(work, 'trace-stdio.jsonl');
    const result = await runTask(options(stdioConfig(), { tracePath, keep: 1 }));
    expect(result).toMatchObject({ answer: '42', stop: 'answered', turns: 5, toolCalls: 4 });
    const requests = model.requests.slice(before);
    const system = messagesOf(requests[0]!)[0]!;
    expect(system.role).toBe('system');
    expect(system.content).toBe(readFileSync(new URL('./fixtures/system-prompt-2026-01-15.txt', import.meta.url), 'utf8'));
    expect(messagesOf(requests[0]!)[1]!.content).toBe('What is six times seven? Check it in Python.\nYou should follow the format instruction in the request strictly and wrap the final answer in \\boxed{}.');
    expect(requests[0]!.body).toMatchObject({ model: 'miromind-ai/MiroThinker-v1.0-8B', temperature: 1, top_p: 0.95, max_tokens: 16384, repetition_penalty: 1.05 });
    expect(requests[0]!.body.tools).toBeUndefined();
    // Turn 5 sees only the last tool result (keep 1); earlier ones are omitted, the task is kept.
    const users = messagesOf(requests[4]!).filter((message) => message.role === 'user').map((message) => message.content);
    expect(users).toHaveLength(5);
    expect(users.slice(1, 4)).toEqual(Array(3).fill('Tool result is omitted to save tokens.'));
    expect(users[4]).toMatch(/^Execution\(Results: \[\], Logs: Logs\(stdout: \['42\\n'\], stderr: \[\]\), Error: None\)$/);
    const scrape = JSON.parse(messagesOf(requests[2]!).at(-1)!.content) as Record<string, unknown>;
    expect(scrape).toMatchObject({ success: true, model_used: 'none (BM25 passages)' });
    expect(String(scrape.extracted_info)).toContain(article.code);
    expect(isSummary(requests[5]!)).toBe(true);
    expect(lastUser(requests[5]!)).toContain('"What is six times seven? Check it in Python."');
    const events = readTrace(tracePath);
    expect(events.filter((event) => event.type === 'tool_call')).toHaveLength(4);
    expect(events.at(-2)).toMatchObject({ type: 'answer', answer: '42' });
  }, 120_000);

  it('runs the same task over Streamable HTTP', async () => {
    const flags = (endpoint: string) => searchArgs(endpoint).slice(1).filter((arg, index, all) => !(arg === '--endpoint' || all[index - 1] === '--endpoint'));
    const env = { FATHOM_CACHE_PATH: TEST_CACHE };
    const [python, search] = await Promise.all([
      startHttpServer('python-sandbox', ['--profile', 'mirothinker', '--warm-pool', '1', '--state-dir', stateDir], env),
      startHttpServer('search', flags('search_and_scrape_webpage'), env),
    ]);
    try {
      const path = join(work, 'config-http.json');
      writeFileSync(
        path,
        JSON.stringify({
          mcpServers: {
            'tool-python': { url: `${python.url}/tool-python` },
            search_and_scrape_webpage: { url: `${search.url}/search_and_scrape_webpage` },
            jina_scrape_llm_summary: { url: `${search.url}/jina_scrape_llm_summary` },
          },
        }),
      );
      script = researchScript(site.articles[1]!);
      const result = await runTask(options(path));
      expect(result).toMatchObject({ answer: '42', stop: 'answered', toolCalls: 4 });
    } finally {
      python.child.kill('SIGTERM');
      search.child.kill('SIGTERM');
      await Promise.all([python.exited, search.exited]);
    }
  }, 120_000);

  it('rolls back malformed calls, refusals, repeated searches, unknown tools and empty results, then answers', async () => {
    const turns: ModelTurn[] = [
      { content: '<use_mcp_tool>\n<server_name>tool-python</server_name>\n<tool_name>create_sandbox' },
      { content: "I'm sorry, I cannot solve this task." },
      { content: toolCallBlock('search_and_scrape_webpage', 'google_search', { q: 'first query' }) },
      { content: toolCallBlock('search_and_scrape_webpage', 'google_search', { q: 'first query' }) },
      { content: toolCallBlock('tool-python', 'no_such_tool', { sandbox_id: 'x' }) },
      { content: toolCallBlock('search_and_scrape_webpage', 'google_search', { q: 'nothing at all' }) },
      { content: 'I have it: \\boxed{7}' },
    ];
    let next = 0;
    script = (request) => {
      if (isSummary(request)) return { content: 'Not sure: \\boxed{?}' };
      if (lastUser(request).includes('nothing at all')) return turns[next++]!;
      const turn = turns[next++] ?? { content: '\\boxed{7}' };
      if (turn.content?.includes('nothing at all')) fakes.script('serper', { status: 200, body: { organic: [], searchParameters: {} } });
      return turn;
    };
    const tracePath = join(work, 'trace-rollbacks.jsonl');
    const result = await runTask(options(stdioConfig(), { tracePath }));
    const reasons = readTrace(tracePath).filter((event) => event.type === 'rollback').map((event) => String(event.reason));
    expect(reasons).toHaveLength(5);
    expect(reasons[0]).toMatch(/MCP|tag|parse/i);
    expect(reasons[1]).toMatch(/refus|sorry/i);
    expect(reasons[2]).toMatch(/first query|repeat|duplicate/i);
    expect(reasons[3]).toMatch(/Unknown tool/);
    expect(reasons[4]).toMatch(/organic|empty/i);
    // "?" is no answer: the \boxed{7} seen during the loop is the fallback.
    expect(result).toMatchObject({ answer: '7', stop: 'answered', toolCalls: 3 });
  }, 120_000);

  it('stops after five rollbacks in a row and still answers from the summary', async () => {
    script = (request) => (isSummary(request) ? { content: '\\boxed{unknown}' } : { content: '<use_mcp_tool><server_name>broken' });
    const result = await runTask(options(stdioConfig()));
    expect(result).toMatchObject({ stop: 'rollbacks', toolCalls: 0 });
    expect(result.answer).toBeUndefined();
  }, 120_000);

  it('restarts a server that crashed mid-task once, says so, and goes on', async () => {
    const events: string[] = [];
    const killed: number[] = [];
    script = (request) => {
      if (isSummary(request)) return { content: '\\boxed{done}' };
      const step = messagesOf(request).filter((message) => message.role === 'assistant').length;
      if (step === 0) return { content: toolCallBlock('tool-python', 'create_sandbox', {}) };
      if (step === 1) {
        // The python server dies between two calls.
        for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
          try {
            const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
            if (command.includes('python-sandbox') && command.includes(stateDir) && !command.includes('bwrap')) {
              process.kill(Number(pid), 'SIGKILL');
              killed.push(Number(pid));
            }
          } catch {
            // gone already
          }
        }
        return { content: toolCallBlock('tool-python', 'create_sandbox', {}) };
      }
      return { content: 'It works again: \\boxed{done}' };
    };
    const result = await runTask(options(stdioConfig(), { onServerEvent: (event) => events.push(`${event.type} ${event.server}`) }));
    expect(killed.length).toBeGreaterThan(0);
    expect(events).toContain('reconnect tool-python');
    expect(result).toMatchObject({ answer: 'done', toolCalls: 2 });
    const second = result.messages.filter((message) => message.role === 'user').at(-2)!.content;
    expect(second).toMatch(/^Sandbox created with sandbox_id: sbx_/);
  }, 120_000);

  it('stops a model that never stops calling tools at the turn limit, then asks for the summary', async () => {
    let query = 0;
    script = (request) => (isSummary(request) ? { content: '\\boxed{stopped}' } : { content: toolCallBlock('search_and_scrape_webpage', 'google_search', { q: `endless ${query++}` }) });
    const result = await runTask(options(stdioConfig(), { maxTurns: 3 }));
    expect(result).toMatchObject({ stop: 'turn_limit', turns: 3, toolCalls: 3, answer: 'stopped' });
  }, 120_000);

  it('leaves the loop before the context overflows, dropping the last call and its result', async () => {
    let query = 0;
    script = (request) => (isSummary(request) ? { content: '\\boxed{full}' } : { content: toolCallBlock('search_and_scrape_webpage', 'google_search', { q: `long results ${query++}`, num: 40 }) });
    const result = await runTask(options(stdioConfig({ contextTokens: 16_000, maxTokens: 4000 }), { keep: -1 }));
    expect(result.stop).toBe('context_full');
    expect(result.answer).toBe('full');
    expect(result.toolCalls).toBeGreaterThan(0);
    expect(result.turns).toBeLessThan(20);
    // The call that would not fit and its result are gone, and the summary prompt takes the place
    // of the result before them, as MiroThinker's answer generator does: two results fewer than calls.
    const results = result.messages.filter((message) => message.role === 'user' && message.content.startsWith('{"organic"'));
    expect(results).toHaveLength(result.toolCalls - 2);
    expect(result.messages.at(-3)!.role).toBe('assistant');
    expect(result.messages.at(-2)!.content).toMatch(/^Summarize the above conversation/);
  }, 120_000);

  it('ends with a clear error when the model endpoint cannot be reached', async () => {
    const result = await runTask(options(stdioConfig({ retries: 2 }), { env: { ...process.env, FATHOM_MODEL_BASE_URL: 'http://127.0.0.1:9/v1', FATHOM_MODEL: 'm' } }));
    expect(result.stop).toBe('model_error');
    expect(result.error).toContain('127.0.0.1:9');
  }, 60_000);
});

describe('fathom agent, openai-tools protocol', () => {
  it('offers the servers as native functions and returns results as tool messages', async () => {
    script = (request) => {
      const messages = messagesOf(request);
      if (!messages.some((message) => message.role === 'tool')) return { finishReason: 'tool_calls', toolCalls: [{ name: 'tool-python__create_sandbox', arguments: '{}' }] };
      return { content: 'Created one: \\boxed{ok}' };
    };
    const before = model.requests.length;
    const result = await runTask(options(stdioConfig(), { protocol: 'openai-tools' }));
    expect(result).toMatchObject({ answer: 'ok', toolCalls: 1, stop: 'answered' });
    const first = model.requests[before]!.body as { tools?: { function: { name: string; parameters: Record<string, unknown> } }[] };
    expect(first.tools?.map((tool) => tool.function.name)).toContain('tool-python__run_python_code');
    const toolMessage = messagesOf(model.requests[before + 1]!).find((message) => message.role === 'tool')!;
    expect(toolMessage.content).toMatch(/^Sandbox created with sandbox_id: sbx_/);
  }, 120_000);
});

describe('fathom eval', () => {
  it('runs a benchmark, resumes after an interruption, and scores it', async () => {
    const tasksPath = join(work, 'tasks.jsonl');
    writeFileSync(
      tasksPath,
      ['{"task_id": "a", "question": "Answer 3", "answer": "3"}', '{"task_id": "b", "question": "Answer 1,234", "answer": "1234"}', '{"task_id": "c", "question": "Answer Paris", "answer": "paris"}'].join('\n'),
    );
    script = (request) => {
      const question = messagesOf(request).find((message) => message.role === 'user')!.content;
      const value = /Answer (\S+)/.exec(question)?.[1] ?? '';
      return { content: `\\boxed{${value}}` };
    };
    const outDir = join(work, 'eval');
    const tasks = readTasks(tasksPath);
    const controller = new AbortController();
    const run = (signal?: AbortSignal) =>
      runEval({
        tasks,
        runs: 1,
        concurrency: 1,
        outDir,
        timeLimitMs: 60_000,
        ...(signal ? { signal } : {}),
        onProgress: (progress) => {
          if (progress.done >= 1) controller.abort();
        },
        runTask: async (task, _run, context) => {
          const result = await runTask(options(stdioConfig(), { task: task.question, tracePath: context.tracePath, signal: context.signal }));
          return { ...(result.answer !== undefined ? { answer: result.answer } : {}), turns: result.turns, toolCalls: result.toolCalls, tokens: result.tokens, ms: result.ms, stop: result.stop };
        },
      });
    await run(controller.signal);
    const partial = readResults(join(outDir, 'results.jsonl'));
    expect(partial.length).toBeGreaterThanOrEqual(1);
    expect(partial.length).toBeLessThan(3);
    const summary = await run();
    const results = readResults(join(outDir, 'results.jsonl'));
    expect(results.map((line) => line.task_id).sort()).toEqual(['a', 'b', 'c']);
    expect(results.every((line) => line.correct === true)).toBe(true);
    expect(summary.markdown).toContain('100');
  }, 180_000);

  it('runs from the command line: live view, answer on stdout, a trace that fathom trace renders', async () => {
    script = researchScript(site.articles[2]!);
    const tracePath = join(work, 'cli-trace.jsonl');
    const run = spawnNode([FATHOM_BIN, 'agent', 'What is six times seven?', '--config', stdioConfig(), '--trace', tracePath, '--max-turns', '10'], {
      FATHOM_MODEL_BASE_URL: model.baseUrl,
      FATHOM_MODEL: 'miromind-ai/MiroThinker-v1.0-8B',
    });
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(run.stdout()).toBe('42\n');
    expect(run.stderr()).toMatch(/turn 1 /);
    expect(run.stderr()).toMatch(/tool-python\/run_python_code sandbox_id="sbx_[0-9a-f]+" code_block="print\(6 \* 7\)"/);
    expect(run.stderr()).toMatch(/5 turns, 4 tool calls/);
    const rendered = spawnNode([FATHOM_BIN, 'trace', tracePath]);
    expect((await rendered.exited).code).toBe(0);
    expect(rendered.stdout()).toContain('run_python_code');
    expect(rendered.stdout()).toContain('42');
  }, 120_000);

  it('prints the exact system prompt for the default servers', async () => {
    // No model named: mirothinker_v1.0_keep5, whose servers list tools as MiroThinker v1.0 did.
    const run = spawnNode([FATHOM_BIN, 'agent', '--print-system-prompt', '--date', '2026-01-15'], { FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_WARM_POOL: '0', FATHOM_MODEL: '' });
    const { code } = await run.exited;
    expect(run.stderr()).not.toContain('Error');
    expect(code).toBe(0);
    expect(run.stdout()).toBe(readFileSync(new URL('./fixtures/system-prompt-v1.0-2026-01-15.txt', import.meta.url), 'utf8') + '\n');
  }, 120_000);
});
