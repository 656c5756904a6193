// Python sandbox speed: Fathom's python-sandbox server (bwrap backend, over MCP stdio, as an agent
// calls it) against what a user would otherwise do: spawn `python3 -c` per call, the same under
// bubblewrap, and Pyodide (WebAssembly) in-process. One run, one table.
//
//   node bench/sandbox/run.mjs [--quick]
//
// The table goes to stdout and to bench/results/sandbox.md (sandbox-quick.md with --quick).
import { Buffer } from 'node:buffer';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { percentile, ms, timed } from '../lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const quick = process.argv.includes('--quick');
const N = quick ? { create: 10, run: 50, numpy: 3, parallel: 10, spawn: 20, pyodide: 2 } : { create: 40, run: 300, numpy: 8, parallel: 40, spawn: 60, pyodide: 3 };
const PYTHON = '/usr/bin/python3';
const work = mkdtempSync(join(tmpdir(), 'fathom-bench-sandbox-'));
// A root server's sandboxes run as users of their own, who pass through here to their workspaces.
chmodSync(work, 0o711);

const log = (message) => process.stderr.write(`sandbox: ${message}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const stats = (samples) => ({ p50: percentile(samples, 50), p95: percentile(samples, 95) });

async function connect(flags) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(root, 'servers/python-sandbox/dist/main.js'), '--log-level', 'warn', '--cache-mode', 'off', '--state-dir', join(work, 'state'), ...flags],
    stderr: 'inherit',
  });
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(transport);
  return client;
}

async function callTool(client, name, args) {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  if (result.isError) throw new Error(`${name}: ${result.content?.[0]?.text}`);
  return result;
}

const create = async (client) => (await callTool(client, 'python_create_session', {})).structuredContent.session_id;

/** Resident memory of the sandbox kernels (the Python processes running kernel.py), in MB. */
function kernelsRss() {
  let kb = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv[0] !== PYTHON || !argv.includes('/opt/fathom/kernel.py')) continue;
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return kb / 1024;
}

// ---- Fathom over MCP ----
log('Fathom: warm pool create');
mkdirSync(join(work, 'state'));
const warm = await connect(['--warm-pool', '2']);
await sleep(1500);
const createWarm = [];
const opened = [];
for (let i = 0; i < N.create; i++) {
  const [elapsed, id] = await timed(() => create(warm));
  createWarm.push(elapsed);
  opened.push(id);
  await sleep(250); // let the pool refill, as between an agent's turns
  if (opened.length >= 8) await callTool(warm, 'python_close_session', { session_id: opened.shift() });
}
for (const id of opened.splice(0)) await callTool(warm, 'python_close_session', { session_id: id });

log('Fathom: 1+1 round trip');
const session = await create(warm);
await callTool(warm, 'python_run', { session_id: session, code: '1+1' });
const onePlusOne = [];
for (let i = 0; i < N.run; i++) onePlusOne.push((await timed(() => callTool(warm, 'python_run', { session_id: session, code: '1+1' })))[0]);

log('Fathom: file tools (done inside the sandbox)');
const halfMegabyte = Buffer.alloc(512 * 1024, 97).toString('base64');
const fileWrite = [];
const fileRead = [];
const fileList = [];
await callTool(warm, 'python_run', { session_id: session, code: 'import os\nos.makedirs("many", exist_ok=True)\nfor i in range(1000): open(f"many/f{i}", "w").close()' });
for (let i = 0; i < N.numpy * 4; i++) {
  fileWrite.push((await timed(() => callTool(warm, 'sandbox_write_file', { session_id: session, path: 'one.bin', content: halfMegabyte, encoding: 'base64' })))[0]);
  fileRead.push((await timed(() => callTool(warm, 'sandbox_read_file', { session_id: session, path: 'one.bin', encoding: 'base64', max_chars: 200_000 })))[0]);
  fileList.push((await timed(() => callTool(warm, 'sandbox_list_files', { session_id: session, path: 'many' })))[0]);
}

log('Fathom: import numpy (first import in a new session)');
const numpyFirst = [];
for (let i = 0; i < N.numpy; i++) {
  const id = await create(warm);
  await sleep(300);
  numpyFirst.push((await timed(() => callTool(warm, 'python_run', { session_id: id, code: 'import numpy' })))[0]);
  await callTool(warm, 'python_close_session', { session_id: id });
}

log('Fathom: 8 sessions in parallel');
const eight = await Promise.all(Array.from({ length: 8 }, () => create(warm)));
const rssIdle = kernelsRss();
const compute = 'import numpy as np\nfloat(np.linalg.norm(np.arange(10000.0)))';
for (const id of eight) await callTool(warm, 'python_run', { session_id: id, code: compute });
const parallelLatencies = [];
const [parallelWall] = await timed(() =>
  Promise.all(
    eight.map(async (id) => {
      for (let i = 0; i < N.parallel; i++) parallelLatencies.push((await timed(() => callTool(warm, 'python_run', { session_id: id, code: compute })))[0]);
    }),
  ),
);
const rssEight = kernelsRss();
await warm.close();

log('Fathom: cold create (no pool)');
const cold = await connect(['--warm-pool', '0']);
const createCold = [];
for (let i = 0; i < N.create / 2; i++) {
  const [elapsed, id] = await timed(() => create(cold));
  createCold.push(elapsed);
  await callTool(cold, 'python_close_session', { session_id: id });
}
await cold.close();

// ---- Alternatives ----
function spawnTimes(command, args, count) {
  const samples = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const result = spawnSync(command, args, { encoding: 'utf8' });
    samples.push(performance.now() - start);
    if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  }
  return samples;
}
log('python3 -c per call');
const spawnPlain = spawnTimes(PYTHON, ['-c', 'print(1+1)'], N.spawn);
const spawnNumpy = spawnTimes(PYTHON, ['-c', 'import numpy'], N.spawn / 2);
const bwrapPrefix = ['--unshare-all', '--die-with-parent', '--ro-bind', '/usr', '/usr', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--symlink', 'usr/bin', '/bin',
  '--ro-bind', '/etc/alternatives', '/etc/alternatives', '--ro-bind', '/etc/ld.so.cache', '/etc/ld.so.cache', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', PYTHON, '-c'];
log('bwrap python3 -c per call');
const spawnBwrap = spawnTimes('bwrap', [...bwrapPrefix, 'print(1+1)'], N.spawn);
const spawnBwrapNumpy = spawnTimes('bwrap', [...bwrapPrefix, 'import numpy'], N.spawn / 2);
// The parallel case for the alternative: 8 workers each spawning per call.
const parallelSpawn = await (async () => {
  const { spawn } = await import('node:child_process');
  const one = () => new Promise((resolve) => spawn('bwrap', [...bwrapPrefix, 'import numpy as np; print(float(np.linalg.norm(np.arange(10000.0))))'], { stdio: 'ignore' }).on('exit', resolve));
  const latencies = [];
  const [wall] = await timed(() =>
    Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = 0; i < N.parallel / 4; i++) latencies.push((await timed(one))[0]);
    })),
  );
  return { wall, latencies, calls: 8 * (N.parallel / 4) };
})();

log('Pyodide in-process');
const { loadPyodide } = await import(join(root, 'node_modules/pyodide/pyodide.mjs'));
const pyodideLoads = [];
let pyodide;
for (let i = 0; i < N.pyodide; i++) {
  const [elapsed, instance] = await timed(() => loadPyodide());
  pyodideLoads.push(elapsed);
  pyodide = instance;
}
pyodide.runPython('1+1');
const pyodideRuns = [];
for (let i = 0; i < N.run; i++) pyodideRuns.push((await timed(async () => pyodide.runPython('1+1')))[0]);

// ---- Table ----
const cw = stats(createWarm);
const cc = stats(createCold);
const op = stats(onePlusOne);
const np1 = stats(numpyFirst);
const pl = stats(parallelLatencies);
const sp = stats(spawnPlain);
const sb = stats(spawnBwrap);
const spn = stats(spawnNumpy);
const sbn = stats(spawnBwrapNumpy);
const pyl = stats(pyodideLoads);
const pyr = stats(pyodideRuns);
const pspl = stats(parallelSpawn.latencies);
const fw = stats(fileWrite);
const fr = stats(fileRead);
const fl = stats(fileList);

const lines = [
  `# Python sandbox benchmark${quick ? ' (quick)' : ''}`,
  '',
  `${new Date().toISOString().slice(0, 10)}, ${execFileSync('nproc').toString().trim()} cores, Node ${process.version}, ${execFileSync(PYTHON, ['--version']).toString().trim()}. Fathom times are MCP tools/call round trips over stdio (client to server to kernel and back); alternatives are timed directly. p50 / p95 in ms.`,
  '',
  '| Measure | Fathom python-sandbox (bwrap) | python3 -c per call | bwrap + python3 -c per call | Pyodide (in-process) |',
  '|---|--:|--:|--:|--:|',
  `| Session create, from the warm pool | ${ms(cw.p50)} / ${ms(cw.p95)} | n/a | n/a | ${ms(pyl.p50)} / ${ms(pyl.p95)} (loadPyodide) |`,
  `| Session create, cold (no pool) | ${ms(cc.p50)} / ${ms(cc.p95)} | n/a | n/a | (same) |`,
  `| \`1+1\` round trip in a live session | ${ms(op.p50)} / ${ms(op.p95)} | ${ms(sp.p50)} / ${ms(sp.p95)} | ${ms(sb.p50)} / ${ms(sb.p95)} | ${ms(pyr.p50)} / ${ms(pyr.p95)} (no MCP, no isolation) |`,
  `| \`import numpy\` (first in a session) | ${ms(np1.p50)} / ${ms(np1.p95)} | ${ms(spn.p50)} / ${ms(spn.p95)} | ${ms(sbn.p50)} / ${ms(sbn.p95)} | not available offline |`,
  `| 8 sessions in parallel, numpy call: latency | ${ms(pl.p50)} / ${ms(pl.p95)} | n/a | ${ms(pspl.p50)} / ${ms(pspl.p95)} (spawn + import each call) | n/a |`,
  `| 8 sessions in parallel: throughput | ${((8 * N.parallel) / (parallelWall / 1000)).toFixed(0)} calls/s | n/a | ${(parallelSpawn.calls / (parallelSpawn.wall / 1000)).toFixed(0)} calls/s | n/a |`,
  `| \`sandbox_write_file\`, 512 KB (base64) | ${ms(fw.p50)} / ${ms(fw.p95)} | n/a | n/a | n/a |`,
  `| \`sandbox_read_file\`, 512 KB (base64) | ${ms(fr.p50)} / ${ms(fr.p95)} | n/a | n/a | n/a |`,
  `| \`sandbox_list_files\`, a folder of 1,000 files | ${ms(fl.p50)} / ${ms(fl.p95)} | n/a | n/a | n/a |`,
  `| Kernel memory (RSS), 8 idle sessions + pool | ${rssIdle.toFixed(0)} MB | | | |`,
  `| Kernel memory (RSS), 8 sessions after numpy | ${rssEight.toFixed(0)} MB | | | |`,
  '',
  'Targets: create under 20 ms from the pool; a `1+1` round trip under 2 ms in a live kernel.',
  '',
];
const table = lines.join('\n');
process.stdout.write(table + '\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results', quick ? 'sandbox-quick.md' : 'sandbox.md'), table);
rmSync(work, { recursive: true, force: true });
process.exit(0);
