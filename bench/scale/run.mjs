// fathom eval on a Redis queue (`fathom eval --queue`, `fathom worker`) against the in-process
// runner, on this machine, in one run:
// 1. throughput: the same tasks with a scripted model that takes 200 ms a turn, each task creating
//    a sandbox in a real python-sandbox server and running Python in it, at 8 runs at once in all:
//    in-process, then 1, 2 and 4 worker processes sharing the 8;
// 2. the queue's own cost per run: a model that answers at once without a tool call, one run at a
//    time, in-process and through one worker.
// Each eval and worker is a real `fathom` process; the redis-server is the bench's own.
//
//   node bench/scale/run.mjs [--quick]
//
// The table goes to stdout and to bench/results/scale.md (scale-quick.md with --quick).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTs } from '../lib/load-ts.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const fathomBin = join(root, 'bin', 'fathom.js');
const quick = process.argv.includes('--quick');
const TASKS = quick ? 16 : 48;
const OVERHEAD_RUNS = quick ? 20 : 60;
const TOTAL_CONCURRENCY = 8;
const TURN_MS = 200;
const work = mkdtempSync(join(tmpdir(), 'fathom-bench-scale-'));
const children = new Set();

const redisServer = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((path) => existsSync(path));
if (!redisServer) {
  process.stderr.write('bench/scale: redis-server is not installed (sudo bash scripts/setup-system.sh installs it)\n');
  process.exit(1);
}

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

function start(args, env = {}) {
  const child = spawn(process.execPath, [fathomBin, ...args], { env: { ...process.env, FATHOM_LOG_LEVEL: 'warn', FATHOM_MODEL_API_KEY: 'bench', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code) => (children.delete(child), resolve(code))));
  return { child, exited, stderr: () => stderr };
}

async function stopAll() {
  await Promise.all([...children].map((child) => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM')))));
}

const redisPort = await freePort();
const redisDir = join(work, 'redis');
mkdirSync(redisDir);
const redis = spawn(redisServer, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
const queueUrl = `redis://127.0.0.1:${redisPort}/0`;
await new Promise((resolve, reject) => {
  const deadline = Date.now() + 10_000;
  const tryConnect = () => {
    const probe = connect(redisPort, '127.0.0.1', () => (probe.end(), resolve()));
    probe.on('error', () => (Date.now() > deadline ? reject(new Error('redis-server did not start')) : setTimeout(tryConnect, 50)));
  };
  tryConnect();
});

const { startModelServer, thinking, toolCallBlock } = await loadTs('tests/fixtures/model-server.ts');
let slow = true;
const messagesOf = (request) => request.body.messages;
const taskOf = (request) => /Answer (\d+)/.exec(messagesOf(request).find((m) => m.role === 'user')?.content ?? '')?.[1] ?? '0';
const model = await startModelServer({
  script: (request) => {
    const value = taskOf(request);
    const last = messagesOf(request).filter((m) => m.role === 'user').at(-1)?.content ?? '';
    if (!slow || last.startsWith('Summarize the above conversation')) return { content: `\\boxed{${value}}` };
    const step = messagesOf(request).filter((m) => m.role === 'assistant').length;
    if (step === 0) return { content: thinking('A sandbox first.') + toolCallBlock('tool-python', 'create_sandbox', {}), delayMs: TURN_MS };
    if (step === 1) {
      const id = /sandbox_id: (\S+)/.exec(last)?.[1] ?? 'missing';
      return { content: toolCallBlock('tool-python', 'run_python_code', { sandbox_id: id, code_block: `print(${value} * 1)` }), delayMs: TURN_MS };
    }
    return { content: `It is \\boxed{${value}}.`, delayMs: TURN_MS };
  },
});

const config = join(work, 'agent.json');
writeFileSync(config, JSON.stringify({
  mcpServers: { 'tool-python': { command: process.execPath, args: [fathomBin, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--state-dir', join(work, 'sandboxes')], env: { FATHOM_LOG_LEVEL: 'warn', FATHOM_CACHE_MODE: 'off' } } },
  model: { retries: 1 },
}));
let taskFiles = 0;
function tasksFile(count) {
  const path = join(work, `tasks-${++taskFiles}.jsonl`);
  writeFileSync(path, Array.from({ length: count }, (_, i) => JSON.stringify({ task_id: `t${i + 1}`, question: `Answer ${i + 1}`, answer: String(i + 1) })).join('\n'));
  return path;
}

/** One eval, in-process (workers 0) or on `workers` worker processes sharing `concurrency`: its wall time. */
async function evaluate(label, tasks, workers, concurrency) {
  const out = join(work, `out-${label.replace(/\W+/g, '-')}`);
  const common = [tasksFile(tasks), '--out', out, '--base-url', model.baseUrl, '--config', config, '--time-limit', '10'];
  const pool = [];
  for (let index = 0; index < workers; index++) {
    pool.push(start(['worker', '--queue', queueUrl, '--name', `w${index + 1}`, '--config', config, '--concurrency', String(concurrency / workers)]));
  }
  const started = performance.now();
  const run = start(['eval', ...common, ...(workers ? ['--queue', queueUrl] : ['--concurrency', String(concurrency)])]);
  const code = await run.exited;
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${label}: the eval exited ${code}: ${run.stderr().slice(-2000)}`);
  await stopAll();
  return ms;
}

const rows = [];
try {
  slow = true;
  const inProcess = await evaluate('in-process', TASKS, 0, TOTAL_CONCURRENCY);
  rows.push({ setup: `in-process, --concurrency ${TOTAL_CONCURRENCY}`, ms: inProcess, tasks: TASKS });
  for (const workers of [1, 2, 4]) {
    const ms = await evaluate(`queue-${workers}`, TASKS, workers, TOTAL_CONCURRENCY);
    rows.push({ setup: `--queue, ${workers} worker${workers > 1 ? 's' : ''} × --concurrency ${TOTAL_CONCURRENCY / workers}`, ms, tasks: TASKS });
  }
  slow = false;
  const plain = await evaluate('overhead-in-process', OVERHEAD_RUNS, 0, 1);
  const queued = await evaluate('overhead-queue', OVERHEAD_RUNS, 1, 1);
  const lines = [
    `# fathom eval on a queue vs in-process (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, Node ${process.versions.node}${quick ? ', --quick' : ''})`,
    '',
    `Throughput: ${TASKS} tasks, each 3 model turns of ${TURN_MS} ms, a sandbox created and Python run in it (real python-sandbox servers, bwrap), ${TOTAL_CONCURRENCY} runs at once in all. Wall time from the eval's start to its exit, servers' start-up included.`,
    '',
    '| set-up | wall time | tasks/min |',
    '|---|---|---|',
    ...rows.map((row) => `| ${row.setup} | ${(row.ms / 1000).toFixed(1)} s | ${((row.tasks / row.ms) * 60_000).toFixed(0)} |`),
    '',
    `The queue's own cost: ${OVERHEAD_RUNS} runs one at a time, the model answering at once, no tool call.`,
    '',
    '| set-up | wall time | per run |',
    '|---|---|---|',
    `| in-process, --concurrency 1 | ${(plain / 1000).toFixed(1)} s | ${(plain / OVERHEAD_RUNS).toFixed(0)} ms |`,
    `| --queue, 1 worker × --concurrency 1 | ${(queued / 1000).toFixed(1)} s | ${(queued / OVERHEAD_RUNS).toFixed(0)} ms |`,
    `| difference | | ${((queued - plain) / OVERHEAD_RUNS).toFixed(0)} ms |`,
    '',
  ];
  const table = lines.join('\n');
  process.stdout.write(`${table}\n`);
  mkdirSync(join(here, '..', 'results'), { recursive: true });
  writeFileSync(join(here, '..', 'results', quick ? 'scale-quick.md' : 'scale.md'), table);
} finally {
  await stopAll();
  await model.close();
  redis.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
}
