// The agent client's own cost per turn, with the model and the tools taken out: a 600-turn
// MiroThinker task whose context grows to about 256K tokens, run by the real loop (prompt,
// parsing, retention, context estimate, rollback checks, result formatting, trace to disk)
// against a model and tool servers that answer instantly. Memory is sampled as it goes.
//
//   node --expose-gc bench/agent/run.mjs [--quick]
//
// The table goes to stdout and to bench/results/agent.md (agent-quick.md with --quick).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@fathom/core';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { runMirothinker } from '../../agent-client/dist/loop.js';
import { applyRetention } from '../../agent-client/dist/protocol/index.js';
import { TraceWriter } from '../../agent-client/dist/trace.js';

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
const sorted = [...turnTimes].sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const perTurn = (wall - modelMs - toolMs) / outcome.turns;

const lines = [
  `# Agent client benchmark${quick ? ' (quick)' : ''}`,
  '',
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}. The real MiroThinker loop (agent-client/dist/loop.js) over ${outcome.turns} turns, with a model and tools that answer at once: each turn is ~380 tokens of thinking plus a search call, each result a 10-item Serper JSON; keep 5; trace written to disk. The last request held ${contextTokens.toLocaleString('en-US')} tokens in ${outcome.messages.length} messages (answer ${outcome.answer}, stop ${outcome.stop}).`,
  '',
  '| Client overhead per turn | ms |',
  '|---|--:|',
  `| mean (wall time less model and tool time, / turns) | ${perTurn.toFixed(2)} |`,
  `| p50 / p95 / max between turns | ${pct(50).toFixed(2)} / ${pct(95).toFixed(2)} / ${sorted.at(-1).toFixed(2)} |`,
  '',
  '| Turn | heap used (MB) | RSS (MB) |',
  '|--:|--:|--:|',
  ...memory.map((sample) => `| ${sample.turn} | ${sample.heapMb.toFixed(1)} | ${sample.rssMb.toFixed(0)} |`),
  '',
  `Heap before the run ${(heapStart / 2 ** 20).toFixed(1)} MB, after ${(heapEnd / 2 ** 20).toFixed(1)} MB; the conversation itself holds ${(outcome.messages.reduce((sum, message) => sum + message.content.length, 0) / 2 ** 20).toFixed(1)} M characters.`,
  '',
  'Target: under 5 ms per turn, memory flat apart from the conversation itself.',
  '',
];
const table = lines.join('\n');
process.stdout.write(table + '\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results', quick ? 'agent-quick.md' : 'agent.md'), table);
rmSync(work, { recursive: true, force: true });
