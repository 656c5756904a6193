// 1. The agent client's own cost per turn, with the model and the tools taken out: a 600-turn
//    MiroThinker task whose context grows to about 256K tokens, run by the real loop (prompt,
//    parsing, retention, context estimate, rollback checks, result formatting, trace to disk)
//    against a model and tool servers that answer instantly. Memory is sampled as it goes.
// 2. fathom eval's throughput in tasks per minute, at concurrency 1, 4 and 16: a scripted model
//    that takes 200 ms a turn, and per task a sandbox, a Python run and a search against Fathom's
//    real python-sandbox and search servers (search providers faked on loopback), with servers
//    started per task (as before) against one set shared by every task.
//
//   node --expose-gc bench/agent/run.mjs [--quick]
//
// The table goes to stdout and to bench/results/agent.md (agent-quick.md with --quick).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@fathom/core';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { percentile } from '../lib/stats.mjs';
import { SharedServers, TraceWriter, agentConfig, applyRetention, runEval, runMirothinker, runTask, serverEnvironment } from '@fathom/agent';

// Memory samples need a collection first: run again with --expose-gc when it is missing.
if (!globalThis.gc) {
  const { status } = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(status ?? 1);
}

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const quick = process.argv.includes('--quick');
const TURNS = quick ? 150 : 600;
const work = mkdtempSync(join(tmpdir(), 'fathom-bench-agent-'));
const gc = globalThis.gc;

const tools = JSON.parse(readFileSync(join(root, 'core/protocol/mirothinker-tools.json'), 'utf8')).servers.map((server) => ({ server: server.server, tools: server.tools }));
const words = 'the survey of coastal tide gauges recorded a steady rise across the decade while inland stations disagreed about the cause'.split(' ');
const prose = (count, seed) => Array.from({ length: count }, (_, index) => words[(index * 7 + seed) % words.length]).join(' ');
/** About 380 tokens of thinking and a search call per turn: 600 turns fill ~230K tokens of context. */
const assistantTurn = (turn) =>
  `<think>\n${prose(285, turn)}\n</think>\n\nLet me search for more.\n\n<use_mcp_tool>\n<server_name>search_and_scrape_webpage</server_name>\n<tool_name>google_search</tool_name>\n<arguments>\n{"q": "tide gauge record ${turn}"}\n</arguments>\n</use_mcp_tool>`;
const result = (turn) => JSON.stringify({ organic: Array.from({ length: 10 }, (_, index) => ({ title: `Result ${index} for ${turn}`, link: `https://example.org/${turn}/${index}`, snippet: prose(30, index), position: index + 1 })), searchParameters: { q: `tide gauge record ${turn}` } });

let modelMs = 0;
let toolMs = 0;
let turn = 0;
const model = {
  async complete(messages) {
    const started = performance.now();
    const summary = messages.at(-1).content.startsWith('Summarize the above conversation');
    const content = summary || turn >= TURNS ? 'The answer is \\boxed{2.31}.' : assistantTurn(++turn);
    modelMs += performance.now() - started;
    return { content, finishReason: 'stop', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }, attempts: 1, ms: 0 };
  },
};
const connections = {
  servers: () => tools,
  async call(call) {
    const started = performance.now();
    const text = result(turn);
    toolMs += performance.now() - started;
    return { call, text, isError: false, ms: 0 };
  },
};

const settings = { baseUrl: 'http://model', model: 'miromind-ai/MiroThinker-v1.0-72B', temperature: 1, topP: 0.95, maxTokens: 16384, repetitionPenalty: 1.05, contextTokens: 262_144, timeoutMs: 600_000, retries: 10 };
const trace = TraceWriter.open(join(work, 'trace.jsonl'));
const turnTimes = [];
const memory = [];
let last = performance.now();
gc();
const heapStart = process.memoryUsage().heapUsed;
const started = performance.now();
const outcome = await runMirothinker({
  task: 'How much did the Kestrel Point tide gauge read at noon on 14 March?',
  model,
  settings,
  connections,
  logger: createLogger('bench', { level: 'silent' }),
  trace,
  maxTurns: TURNS + 5,
  keep: 5,
  date: '2026-12-01',
  onEvent: (event) => {
    if (event.type !== 'turn') return;
    const now = performance.now();
    if (event.turn > 1) turnTimes.push(now - last);
    last = now;
    if (event.turn % (TURNS / 6) === 0) {
      gc();
      memory.push({ turn: event.turn, heapMb: process.memoryUsage().heapUsed / 2 ** 20, rssMb: process.memoryUsage().rss / 2 ** 20 });
    }
  },
});
const wall = performance.now() - started;
trace.close();
const contextTokens = applyRetention(outcome.messages, 5).reduce((sum, message) => sum + countTokens(message.content), 0);
gc();
const heapEnd = process.memoryUsage().heapUsed;
const perTurn = (wall - modelMs - toolMs) / outcome.turns;

// 2. Throughput of fathom eval.
const { loadTs } = await import('../lib/load-ts.mjs');
const TURN_MS = 200;
const fathomBin = join(root, 'bin/fathom.js');
const silent = createLogger('bench', { level: 'silent' });
const { startModelServer, toolCallBlock } = await loadTs('tests/fixtures/model-server.ts');
const { startProviderFakes } = await loadTs('tests/fixtures/providers.ts');
const fakes = await startProviderFakes();
const messagesOf = (request) => request.body.messages;
const userTexts = (request) => messagesOf(request).filter((message) => message.role === 'user').map((message) => message.content);
/** Create a sandbox, run Python in it, search, answer: four turns and the summary, 200 ms each. */
const modelServer = await startModelServer({
  script: (request) => {
    const users = userTexts(request);
    const value = /Answer (\d+)/.exec(users[0] ?? '')?.[1] ?? '0';
    if (users.at(-1).startsWith('Summarize the above conversation')) return { content: `\\boxed{${value}}`, delayMs: TURN_MS };
    const step = messagesOf(request).filter((message) => message.role === 'assistant').length;
    const sandbox = /sandbox_id: (\S+)/.exec(users.join('\n'))?.[1] ?? 'missing';
    const turns = [
      () => toolCallBlock('tool-python', 'create_sandbox', {}),
      () => toolCallBlock('tool-python', 'run_python_code', { sandbox_id: sandbox, code_block: `import math\nprint(math.sqrt(${value} ** 2))` }),
      () => toolCallBlock('search_and_scrape_webpage', 'google_search', { q: `number ${value}` }),
    ];
    return { content: step < turns.length ? turns[step]() : `Done: \\boxed{${value}}`, delayMs: TURN_MS };
  },
});
const cache = join(work, 'cache.sqlite');
const serverEnv = { FATHOM_CACHE_PATH: cache, FATHOM_LOG_LEVEL: 'warn' };
const search = (endpoint) => ({
  command: process.execPath,
  args: [fathomBin, 'search', '--profile', 'mirothinker', '--endpoint', endpoint, '--egress-allow', '127.0.0.1', '--cache-mode', 'off', '--search-providers', 'serper', ...Object.entries(fakes.flags).flatMap(([key, value]) => [`--${key}`, value])],
  env: serverEnv,
});
const configPath = join(work, 'agent-config.json');
writeFileSync(
  configPath,
  JSON.stringify({
    mcpServers: {
      'tool-python': { command: process.execPath, args: [fathomBin, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python'], env: serverEnv },
      search_and_scrape_webpage: search('search_and_scrape_webpage'),
      jina_scrape_llm_summary: search('jina_scrape_llm_summary'),
    },
  }),
);
const env = { ...process.env, FATHOM_MODEL_BASE_URL: modelServer.baseUrl, FATHOM_MODEL: 'miromind-ai/MiroThinker-v1.0-8B' };

async function throughput(mode, concurrency) {
  const count = quick ? Math.max(4, concurrency) : Math.max(12, 2 * concurrency);
  const tasks = Array.from({ length: count }, (_, index) => ({ task_id: `t${index + 1}`, question: `Answer ${index + 1}`, answer: String(index + 1) }));
  const shared = mode === 'shared' ? await SharedServers.start(agentConfig({ configPath, fathomBin }).mcpServers, { fathomBin, logger: silent, env: serverEnvironment(env), concurrency }) : undefined;
  const started = performance.now();
  const taskMs = [];
  try {
    const summary = await runEval({
      tasks,
      runs: 1,
      concurrency,
      outDir: join(work, `eval-${mode}-${concurrency}`),
      timeLimitMs: 600_000,
      runTask: async (task, _run, context) => {
        const taskStarted = performance.now();
        const result = await runTask({ task: task.question, configPath, ...(shared ? { servers: shared.mcpServers } : {}), protocol: 'mirothinker', agentConfig: 'mirothinker_v1.0', tracePath: context.tracePath, fathomBin, logger: silent, env, signal: context.signal });
        taskMs.push(performance.now() - taskStarted);
        return { ...(result.answer !== undefined ? { answer: result.answer } : {}), turns: result.turns, toolCalls: result.toolCalls, tokens: result.tokens, ms: result.ms, stop: result.stop, ...(result.error ? { error: result.error } : {}) };
      },
    });
    const wallMs = performance.now() - started;
    if (summary.exact.correct !== count) throw new Error(`${mode} at ${concurrency}: ${summary.exact.correct} of ${count} tasks answered right (${summary.errors} errors)`);
    return { mode, concurrency, count, wallMs, perMinute: count / (wallMs / 60_000), meanTaskMs: taskMs.reduce((a, b) => a + b, 0) / taskMs.length, meanLoopMs: summary.stats.ms.mean };
  } finally {
    await shared?.close();
  }
}

const levels = quick ? [1, 4] : [1, 4, 16];
const rows = [];
for (const concurrency of levels) {
  for (const mode of ['per task', 'shared']) {
    process.stderr.write(`agent: ${mode} servers, concurrency ${concurrency}\n`);
    rows.push(await throughput(mode, concurrency));
  }
}
await Promise.all([modelServer.close(), fakes.close()]);
const perMinute = (mode, concurrency) => rows.find((row) => row.mode === mode && row.concurrency === concurrency).perMinute;

const lines = [
  `# Agent client benchmark${quick ? ' (quick)' : ''}`,
  '',
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}. The real MiroThinker loop (agent-client/dist/loop.js) over ${outcome.turns} turns, with a model and tools that answer at once: each turn is ~380 tokens of thinking plus a search call, each result a 10-item Serper JSON; keep 5; trace written to disk. The last request held ${contextTokens.toLocaleString('en-US')} tokens in ${outcome.messages.length} messages (answer ${outcome.answer}, stop ${outcome.stop}).`,
  '',
  '| Client overhead per turn | ms |',
  '|---|--:|',
  `| mean (wall time less model and tool time, / turns) | ${perTurn.toFixed(2)} |`,
  `| p50 / p95 / max between turns | ${percentile(turnTimes, 50).toFixed(2)} / ${percentile(turnTimes, 95).toFixed(2)} / ${Math.max(...turnTimes).toFixed(2)} |`,
  '',
  '| Turn | heap used (MB) | RSS (MB) |',
  '|--:|--:|--:|',
  ...memory.map((sample) => `| ${sample.turn} | ${sample.heapMb.toFixed(1)} | ${sample.rssMb.toFixed(0)} |`),
  '',
  `Heap before the run ${(heapStart / 2 ** 20).toFixed(1)} MB, after ${(heapEnd / 2 ** 20).toFixed(1)} MB; the conversation itself holds ${(outcome.messages.reduce((sum, message) => sum + message.content.length, 0) / 2 ** 20).toFixed(1)} M characters.`,
  '',
  'Target: under 5 ms per turn, memory flat apart from the conversation itself.',
  '',
  '## fathom eval throughput',
  '',
  `Each task: four turns and the summary from a scripted model that takes ${TURN_MS} ms a turn (1 s of model time), with a sandbox created, a Python run in it and a Google search (Serper faked on loopback) through Fathom's real python-sandbox and search servers in the mirothinker profile; trace written. "per task": every task starts its own three server processes over stdio, as fathom eval did before (and does with --process-per-task); "shared": one python-sandbox and one search process for the whole eval, each task on its own MCP sessions over loopback HTTP. Machine: ${cpus().length} cores, shared.`,
  '',
  '| servers | concurrency | tasks | wall (s) | tasks / min | per task (s): all | of which the loop |',
  '|---|--:|--:|--:|--:|--:|--:|',
  ...rows.map((row) => `| ${row.mode} | ${row.concurrency} | ${row.count} | ${(row.wallMs / 1000).toFixed(1)} | ${row.perMinute.toFixed(1)} | ${(row.meanTaskMs / 1000).toFixed(2)} | ${(row.meanLoopMs / 1000).toFixed(2)} |`),
  '',
  '"all" is a task from start to end, its servers started and stopped (per task) or its sessions opened and closed (shared); "the loop" is the model turns and tool calls alone.',
  '',
  levels.map((concurrency) => `concurrency ${concurrency}: shared ${(perMinute('shared', concurrency) / perMinute('per task', concurrency)).toFixed(2)}× per task`).join('; ') + '.',
  '',
];
const table = lines.join('\n');
process.stdout.write(table + '\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results', quick ? 'agent-quick.md' : 'agent.md'), table);
rmSync(work, { recursive: true, force: true });
