// MiroThinker's evaluation regimes end to end: a scripted model against Fathom's search server over
// stdio, one agent config at a time (answer_generator.py, common_benchmark.py).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, mirothinkerPrompts } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startModelServer, thinking, toolCallBlock } from '../../tests/fixtures/model-server.js';
import type { ModelRequest, ModelServer, ModelTurn } from '../../tests/fixtures/model-server.js';
import { startProviderFakes } from '../../tests/fixtures/providers.js';
import type { ProviderFakes } from '../../tests/fixtures/providers.js';
import { FATHOM_BIN, TEST_CACHE } from '../../tests/helpers.js';
import { runTask } from '../src/agent.js';
import type { TaskOptions } from '../src/agent.js';
import { readTrace, renderTrace } from '../src/trace.js';

const prompts = mirothinkerPrompts() as Record<string, string>;
const logger = createLogger('attempts-test', { level: 'silent' });
const work = mkdtempSync(join(tmpdir(), 'fathom-attempts-test-'));
let fakes: ProviderFakes;
let model: ModelServer;
let script: (request: ModelRequest, index: number) => ModelTurn = () => ({ content: 'no script' });

type Message = { role: string; content: string };
const messagesOf = (request: ModelRequest) => request.body.messages as Message[];
const lastOf = (request: ModelRequest) => messagesOf(request).at(-1)!;
const lastUser = (request: ModelRequest) => messagesOf(request).filter((message) => message.role === 'user').at(-1)?.content ?? '';
const isSummary = (request: ModelRequest) => lastUser(request).startsWith('Summarize the above conversation');
const isFailureSummary = (request: ModelRequest) => lastOf(request).role === 'assistant' && lastOf(request).content === prompts.failure_summary_assistant_prefix;
const firstUser = (request: ModelRequest) => messagesOf(request)[1]!.content;
const suffix = prompts.first_user_suffix!;

function configFile(modelSection: Record<string, unknown> = {}): string {
  const env = { FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' };
  const args = ['search', '--profile', 'mirothinker', '--endpoint', 'search_and_scrape_webpage', '--egress-allow', '127.0.0.1', '--cache-mode', 'off', '--search-providers', 'serper'];
  const flags = Object.entries(fakes.flags).flatMap(([key, value]) => [`--${key}`, value]);
  const path = join(work, `config-${Date.now()}-${Math.random()}.json`);
  writeFileSync(path, JSON.stringify({ mcpServers: { search_and_scrape_webpage: { command: process.execPath, args: [FATHOM_BIN, ...args, ...flags], env } }, model: modelSection }));
  return path;
}

function options(agentConfig: string, extra: Partial<TaskOptions> = {}, modelSection: Record<string, unknown> = {}): TaskOptions {
  return {
    task: 'What is six times seven?',
    configPath: configFile(modelSection),
    protocol: 'mirothinker',
    agentConfig,
    date: '2026-03-20',
    fathomBin: FATHOM_BIN,
    logger,
    env: { ...process.env, FATHOM_MODEL_BASE_URL: model.baseUrl, FATHOM_MODEL: 'miromind-ai/MiroThinker-1.7-mini' },
    ...extra,
  };
}

/** The requests a run made, with the run's result. */
async function run(agentConfig: string, extra: Partial<TaskOptions> = {}, modelSection: Record<string, unknown> = {}) {
  const before = model.requests.length;
  const result = await runTask(options(agentConfig, extra, modelSection));
  return { result, requests: model.requests.slice(before) };
}

let searches = 0;
const search = (text = 'Let me look it up.') => ({ content: thinking(text) + toolCallBlock('search_and_scrape_webpage', 'google_search', { q: `six times seven ${searches++}` }) });

beforeAll(async () => {
  [fakes, model] = await Promise.all([startProviderFakes(), startModelServer({ script: (request, index) => script(request, index) })]);
});

afterAll(async () => {
  await Promise.all([fakes?.close(), model?.close()]);
  rmSync(work, { recursive: true, force: true });
});

describe('MiroThinker 1.7 (context management, no failure summary)', () => {
  it('starts a second attempt from the task alone when the first ends without a boxed answer', async () => {
    let attempt = 0;
    script = (request) => {
      if (isSummary(request)) return attempt === 1 ? { content: 'I could not finish.' } : { content: thinking('Found it.') + 'The answer is \\boxed{42}.' };
      if (messagesOf(request).length === 2) attempt++;
      return messagesOf(request).length === 2 ? search() : { content: 'I will stop here.' };
    };
    const tracePath = join(work, 'trace-17.jsonl');
    const { result, requests } = await run('mirothinker_1.7_keep5_max200', { tracePath });
    expect(result.answer).toBe('42');
    expect(result.attempts.map((entry) => [entry.attempt, entry.answer])).toEqual([
      [1, undefined],
      [2, '42'],
    ]);
    expect(result.attempts[0]!.ended).toContain('no boxed answer');
    expect(requests.some(isFailureSummary)).toBe(false);
    const starts = requests.filter((request) => messagesOf(request).length === 2);
    expect(starts).toHaveLength(2);
    expect(firstUser(starts[1]!)).toBe(firstUser(starts[0]!));
    expect(firstUser(starts[1]!)).toBe(`What is six times seven?${suffix}`);
    expect(result.turns).toBe(4);
    // The trace and `fathom trace` show each attempt and why it ended.
    const events = readTrace(tracePath);
    expect(events.filter((event) => event.type === 'attempt').map((event) => event.attempt)).toEqual([1, 2]);
    const timeline = renderTrace(events, { color: false, width: 120 });
    expect(timeline).toContain('attempt 1 of 6');
    expect(timeline).toMatch(/attempt 1 of 6 ended: the model stopped calling tools, no boxed answer/);
    expect(timeline).toMatch(/attempt 2 of 6 ended: .*boxed answer → 42/);
  }, 120_000);
});

describe('MiroThinker v1.5 (context management with failure summaries)', () => {
  it('skips answer generation at the turn limit and carries the failure summary into the next attempt, byte for byte', async () => {
    const summaryText = 'Failure type: incomplete\nWhat happened: I searched twice and ran out of turns; cost $$5 and $& more.\nUseful findings: 6 x 7 is probably 42.';
    let attempt = 0;
    script = (request) => {
      if (isFailureSummary(request)) return { content: `${summaryText}\n\n` };
      if (isSummary(request)) return { content: 'The answer is \\boxed{42}.' };
      if (messagesOf(request).length === 2) attempt++;
      return attempt === 1 ? search() : { content: thinking('The earlier attempt found it.') + 'The answer is \\boxed{42}.' };
    };
    const { result, requests } = await run('mirothinker_v1.5_keep5_max200', { maxTurns: 2 });
    expect(result.answer).toBe('42');
    expect(result.attempts).toHaveLength(2);
    expect(result.attempts[0]).toMatchObject({ stop: 'turn_limit', turns: 2, failureSummary: summaryText });
    expect(result.attempts[0]!.ended).toContain('answer generation skipped');
    // Attempt 1: two turns, no summary prompt (no blind guess), then the failure summary request.
    const firstAttempt = requests.slice(0, requests.findIndex(isFailureSummary) + 1);
    expect(firstAttempt.some(isSummary)).toBe(false);
    const failure = firstAttempt.at(-1)!;
    const tail = messagesOf(failure).slice(-3);
    // The last tool result gives way to the failure prompt; the prefix is continued, not answered.
    expect(tail.map((message) => message.role)).toEqual(['assistant', 'user', 'assistant']);
    expect(tail[1]!.content).toBe(prompts.failure_summary_prompt);
    expect(failure.body).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
    // Attempt 2 starts with the task, MiroThinker's header, the summary and its footer.
    const second = requests.find((request, index) => index > 0 && messagesOf(request).length === 2)!;
    expect(firstUser(second)).toBe(
      'What is six times seven?' +
        '\n\n=== Previous Attempts Analysis ===\nThe following summarizes what was tried before and why it didn\'t work. Use this to guide a NEW approach.\n\n' +
        `[Attempt 1]\n${summaryText}\n\n` +
        '=== End of Analysis ===\n\nBased on the above, you should try a different strategy this time.\n' +
        suffix,
    );
  }, 120_000);

  it('falls back to a turn\'s boxed answer on the last attempt only', async () => {
    script = (request) => {
      if (isFailureSummary(request)) return { content: 'Failure type: incomplete' };
      if (isSummary(request)) return { content: 'Still not sure.' };
      return search('Maybe \\boxed{41}, checking.');
    };
    const { result, requests } = await run('mirothinker_v1.5_keep5_max200', { maxTurns: 1 });
    expect(result.attempts).toHaveLength(6);
    expect(result.attempts.slice(0, 5).every((entry) => entry.answer === undefined)).toBe(true);
    expect(result.answer).toBe('41');
    expect(result.attempts[5]!.ended).toContain('the last boxed answer of a turn used');
    // Only the last attempt asked for a final answer; the first five were skipped at the turn limit.
    expect(requests.filter(isSummary)).toHaveLength(1);
    expect(requests.filter(isFailureSummary)).toHaveLength(5);
    const last = requests.filter((request) => messagesOf(request).length === 2).at(-1)!;
    expect(firstUser(last)).toContain('[Attempt 5]\nFailure type: incomplete\n\n');
  }, 120_000);
});

describe('MiroThinker v1.0 (one attempt)', () => {
  it('puts the summary prompt in place of the last tool result at the turn limit, fills it without $ patterns, and asks three times when every result is kept', async () => {
    let summaries = 0;
    script = (request) => {
      if (isSummary(request)) return ++summaries < 3 ? { content: 'Thinking more.' } : { content: 'Final: \\boxed{42}' };
      return search();
    };
    const task = 'Compute $$6 \\times 7$$ and keep $& as is.';
    const { result, requests } = await run('mirothinker_v1.0', { task, maxTurns: 2 });
    expect(result).toMatchObject({ answer: '42', stop: 'turn_limit', turns: 2 });
    const asked = requests.filter(isSummary);
    expect(asked).toHaveLength(3);
    for (const request of asked) {
      const roles = messagesOf(request).map((message) => message.role);
      expect(roles.slice(-2)).toEqual(['assistant', 'user']);
      expect(messagesOf(request)).toHaveLength(asked[0]!.body.messages!.length);
    }
    expect(lastUser(asked[0]!)).toContain(`"${task}"`);
  }, 120_000);

  it('asks for the same turn again when a model call fails after its retries, instead of ending the run', async () => {
    let failed = false;
    script = (request) => {
      if (isSummary(request)) return { content: '\\boxed{42}' };
      if (messagesOf(request).length === 4 && !failed) {
        failed = true;
        return { status: 503 };
      }
      return messagesOf(request).length === 2 ? search() : { content: 'Done.' };
    };
    const tracePath = join(work, 'trace-retry.jsonl');
    const { result } = await run('mirothinker_v1.0', { tracePath }, { retries: 1 });
    expect(result).toMatchObject({ answer: '42', stop: 'answered', turns: 2, toolCalls: 1 });
    expect(readTrace(tracePath).filter((event) => event.type === 'model_retry')).toHaveLength(1);
  }, 120_000);

  it('corrects a wrong server name before the call runs, in the call and in the history', async () => {
    script = (request) => {
      if (isSummary(request)) return { content: '\\boxed{42}' };
      if (messagesOf(request).length === 2) return { content: toolCallBlock('tool-python', 'google_search', { q: 'wrong server' }) };
      return { content: 'Done.' };
    };
    const { result, requests } = await run('mirothinker_v1.0');
    expect(result).toMatchObject({ answer: '42', toolCalls: 1 });
    const history = messagesOf(requests[1]!);
    expect(history[2]!.content).toContain('<server_name>search_and_scrape_webpage</server_name>');
    expect(history[3]!.content).toContain('"organic"');
  }, 120_000);
});
