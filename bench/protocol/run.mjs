// Protocol overhead: tools/call latency and throughput of a Fathom server against a bare SDK (v2)
// server, each with one no-op tool, in both protocol eras (2025-11-25 and 2026-07-28), over stdio
// and Streamable HTTP, in the same run. The client is SDK v2's, negotiating the era under test.
//
//   node bench/protocol/run.mjs [--quick] [--rounds R] [--warmup W] [--n-stdio N] [--n-http N]
//                               [--m-stdio M] [--m-http M] [--concurrency C] [--timeout-s S]
//
// Every (era, transport, server) triple runs once per round, on a fresh server process, alternating
// which server goes first; each metric is the median over the rounds. The markdown table goes to
// stdout and to bench/results/protocol.md (protocol-quick.md with --quick); progress goes to
// stderr. Everything listens and connects on 127.0.0.1 only.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { median, percentile } from '../lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, '..', 'results');
const HOST = '127.0.0.1';
const LIMIT_THRESHOLD = 1.2;

const SERVERS = {
  sdk: { label: 'bare SDK', script: join(here, 'sdk-noop.mjs'), extraArgs: [] },
  fathom: { label: 'Fathom', script: join(here, 'fathom-noop.mjs'), extraArgs: ['--log-level', 'warn'] },
};
const TRANSPORTS = ['stdio', 'http'];
/** The client options that pick each era: the 2025 initialize handshake, or 2026-07-28 pinned. */
const ERAS = {
  '2025-11-25': {},
  '2026-07-28': { versionNegotiation: { mode: { pin: '2026-07-28' } } },
};

// ---------------------------------------------------------------- options

function parseOptions(argv) {
  const quick = argv.includes('--quick');
  const options = quick
    ? { rounds: 1, warmup: 100, nStdio: 300, nHttp: 200, mStdio: 600, mHttp: 400, concurrency: 16, timeoutS: 300 }
    : { rounds: 5, warmup: 200, nStdio: 2000, nHttp: 1000, mStdio: 4000, mHttp: 2000, concurrency: 16, timeoutS: 1200 };
  const numeric = {
    '--rounds': 'rounds',
    '--warmup': 'warmup',
    '--n-stdio': 'nStdio',
    '--n-http': 'nHttp',
    '--m-stdio': 'mStdio',
    '--m-http': 'mHttp',
    '--concurrency': 'concurrency',
    '--timeout-s': 'timeoutS',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') continue;
    const key = numeric[arg];
    if (!key) throw new Error(`Unknown option ${arg}; known: --quick ${Object.keys(numeric).join(' ')}`);
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value < 1 || value > 1_000_000) throw new Error(`${arg} needs an integer from 1 to 1000000`);
    options[key] = value;
  }
  return { quick, ...options };
}

// ---------------------------------------------------------------- process hygiene

/** Every server process this run started, so that none outlives it, whatever happens. */
const children = new Set();

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** The last few KiB a stream wrote, for error messages. */
function tail(stream, limit = 8192) {
  let text = '';
  stream?.on('data', (chunk) => {
    text = (text + chunk.toString('utf8')).slice(-limit);
  });
  return () => text;
}

function childEnv() {
  // Nothing from the caller's FATHOM_* environment may change the server under test.
  const env = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('FATHOM_')) env[key] = value;
  return env;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: HOST });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(3000).then(() => false)])) return;
  child.kill('SIGKILL');
  await Promise.race([exited, sleep(2000)]);
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

// ---------------------------------------------------------------- connecting

/** A connected client plus what is needed to measure and stop the server behind it. */
async function open(kind, transport, era) {
  const server = SERVERS[kind];
  const client = new Client({ name: 'fathom-bench', version: '0.0.0' }, ERAS[era]);

  if (transport === 'stdio') {
    const clientTransport = new StdioClientTransport({
      command: process.execPath,
      args: [server.script, '--transport', 'stdio', ...server.extraArgs],
      cwd: here,
      stderr: 'pipe',
    });
    const stderr = tail(clientTransport.stderr);
    try {
      await client.connect(clientTransport);
    } catch (error) {
      await clientTransport.close().catch(() => undefined);
      throw new Error(`${kind} over stdio did not start: ${error.message}\n${stderr()}`);
    }
    const pid = clientTransport.pid;
    // StdioClientTransport keeps its child private; track it by pid for the exit handler too.
    const guard = { exitCode: null, signalCode: null, kill: (signal) => process.kill(pid, signal) };
    children.add(guard);
    return {
      client,
      pid,
      stderr,
      async close() {
        await client.close().catch(() => undefined);
        try {
          process.kill(pid, 0);
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited, as it should once stdin closes
        }
        guard.exitCode = 0;
        children.delete(guard);
      },
    };
  }

  const port = await freePort();
  const child = spawn(
    process.execPath,
    [server.script, '--transport', 'http', '--host', HOST, '--port', String(port), ...server.extraArgs],
    { cwd: here, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.add(child);
  const stdout = tail(child.stdout);
  const stderr = tail(child.stderr);
  const output = () => `${stdout()}${stderr()}`;
  const stop = async () => {
    await stopChild(child);
    children.delete(child);
  };
  try {
    let ready = false;
    for (let attempt = 0; attempt < 200 && !ready; attempt++) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      ready = await canConnect(port);
      if (!ready) await sleep(25);
    }
    if (!ready) throw new Error(`${kind} over http did not listen on ${HOST}:${port} within 5 s\n${output()}`);

    // The SDK's HTTP client hands one shared AbortSignal to every POST; undici adds an abort
    // listener to it per request and drops it only when the request is garbage-collected, so a
    // long run piles up listeners (and Node's MaxListeners warning). Calls here are never
    // cancelled, so POSTs go without the signal; the GET stream keeps it, so close() still ends it.
    const fetchWithoutSharedSignal = (url, init) =>
      fetch(url, init?.method === 'POST' ? { ...init, signal: undefined } : init);
    const clientTransport = new StreamableHTTPClientTransport(new URL(`http://${HOST}:${port}/mcp`), {
      fetch: fetchWithoutSharedSignal,
    });
    await client.connect(clientTransport);
  } catch (error) {
    await client.close().catch(() => undefined);
    await stop();
    throw error;
  }
  return {
    client,
    pid: child.pid,
    stderr: output,
    async close() {
      await client.close().catch(() => undefined);
      await stop();
    },
  };
}

// ---------------------------------------------------------------- measuring

const PAYLOAD = 'ping';

async function call(client) {
  const result = await client.callTool({ name: 'noop', arguments: { text: PAYLOAD } });
  return result;
}

async function measure(kind, transport, era, options) {
  const n = transport === 'stdio' ? options.nStdio : options.nHttp;
  const m = transport === 'stdio' ? options.mStdio : options.mHttp;
  const session = await open(kind, transport, era);
  try {
    const negotiated = session.client.getProtocolEra();
    if (negotiated !== (era.startsWith('2026') ? 'modern' : 'legacy')) throw new Error(`${kind} over ${transport}: asked for ${era}, got the ${negotiated} era`);
    const first = await call(session.client);
    if (first.isError || first.content?.[0]?.text !== PAYLOAD) {
      throw new Error(`${kind} over ${transport} (${era}): the no-op answered ${JSON.stringify(first)}`);
    }
    for (let i = 0; i < options.warmup; i++) await call(session.client);
    const cpuBefore = cpuMs(session.pid);

    const samples = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await call(session.client);
      samples[i] = performance.now() - start;
    }
    samples.sort();

    let issued = 0;
    const worker = async () => {
      while (issued < m) {
        issued++;
        await call(session.client);
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: Math.min(options.concurrency, m) }, worker));
    const seconds = (performance.now() - start) / 1000;
    const cpuAfter = cpuMs(session.pid);

    return {
      p50: percentile(samples, 50),
      p95: percentile(samples, 95),
      p99: percentile(samples, 99),
      callsPerSecond: m / seconds,
      cpuPerCall: ((cpuAfter - cpuBefore) * 1000) / (n + m),
      rss: rssMiB(session.pid),
    };
  } catch (error) {
    const log = session.stderr();
    throw log ? new Error(`${error.message}\n--- server output ---\n${log}`) : error;
  } finally {
    await session.close();
  }
}

// ---------------------------------------------------------------- reporting

function cpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return `${match ? match[1].trim() : cpus()[0]?.model ?? 'unknown'} (${cpus().length} logical CPUs)`;
  } catch {
    return `${cpus()[0]?.model ?? 'unknown'} (${cpus().length} logical CPUs)`;
  }
}

function table(results, options) {
  const fmt = (value, digits) => value.toFixed(digits);
  const lines = [
    '### Protocol overhead: Fathom kit vs bare MCP SDK v2 (one no-op tool), both protocol eras',
    '',
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpuModel()} · ` +
      `latency: N = ${options.nStdio} (stdio) / ${options.nHttp} (HTTP) sequential calls · ` +
      `throughput: ${options.mStdio} / ${options.mHttp} calls, ${options.concurrency} in flight · ` +
      `warm-up ${options.warmup} calls · median of ${options.rounds} round${options.rounds === 1 ? '' : 's'} per metric, ` +
      `fresh server process per measurement${options.quick ? ' · --quick' : ''}`,
    '',
    `| era | transport | server | p50 ms | p95 ms | p99 ms | calls/s (${options.concurrency} in flight) | server CPU µs/call | RSS MiB | ratio (p50 · calls/s · CPU) |`,
    '|---|---|---|--:|--:|--:|--:|--:|--:|---|',
  ];
  const verdicts = [];
  for (const era of Object.keys(ERAS)) for (const transport of TRANSPORTS) {
    const sdk = results[era][transport].sdk;
    const fathom = results[era][transport].fathom;
    const latencyRatio = fathom.p50 / sdk.p50;
    const throughputRatio = sdk.callsPerSecond / fathom.callsPerSecond;
    const cpuRatio = fathom.cpuPerCall / sdk.cpuPerCall;
    const worst = Math.max(latencyRatio, throughputRatio);
    verdicts.push({ row: `${era} ${transport}`, ok: worst <= LIMIT_THRESHOLD });
    const name = transport === 'stdio' ? 'stdio' : 'Streamable HTTP';
    for (const [kind, row] of [['sdk', sdk], ['fathom', fathom]]) {
      const ratio =
        kind === 'sdk'
          ? 'baseline'
          : `${fmt(latencyRatio, 2)}x · ${fmt(throughputRatio, 2)}x · ${fmt(cpuRatio, 2)}x${worst > LIMIT_THRESHOLD ? ` (over ${LIMIT_THRESHOLD}x)` : ''}`;
      lines.push(
        `| ${era} | ${name} | ${SERVERS[kind].label} | ${fmt(row.p50, 3)} | ${fmt(row.p95, 3)} | ${fmt(row.p99, 3)} | ` +
          `${Math.round(row.callsPerSecond).toLocaleString('en-US')} | ${fmt(row.cpuPerCall, 0)} | ${fmt(row.rss, 1)} | ${ratio} |`,
      );
    }
  }
  lines.push(
    '',
    'Ratio: Fathom p50 / SDK p50, SDK calls/s / Fathom calls/s, and Fathom server CPU / SDK server CPU; ' +
      'above 1 means Fathom costs more. The verdict below uses the first two. Server CPU is user + system time of ' +
      'the server process over the timed calls (latency and throughput phases), from /proc/<pid>/stat; it is the ' +
      "steadiest of these numbers, since client and server share the machine's CPUs and the SDK client itself " +
      'needs more CPU per call than either server, so calls/s over HTTP is bound by the client. ' +
      'RSS is the server process after the run (VmRSS).',
    '',
    verdicts.every((v) => v.ok)
      ? `Fathom stays within ${LIMIT_THRESHOLD}x of the bare SDK on every row.`
      : `Fathom is over ${LIMIT_THRESHOLD}x of the bare SDK on: ${verdicts
          .filter((v) => !v.ok)
          .map((v) => v.row)
          .join(', ')}.`,
  );
  return { markdown: lines.join('\n') + '\n', ok: verdicts.every((v) => v.ok) };
}

// ---------------------------------------------------------------- main

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    process.stderr.write(`[protocol] gave up after ${options.timeoutS} s\n`);
    killAll();
    process.exit(1);
  }, options.timeoutS * 1000);
  watchdog.unref();

  const perRound = Object.fromEntries(Object.keys(ERAS).map((era) => [era, { stdio: { sdk: [], fathom: [] }, http: { sdk: [], fathom: [] } }]));
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? ['sdk', 'fathom'] : ['fathom', 'sdk'];
    for (const era of Object.keys(ERAS)) for (const transport of TRANSPORTS) {
      for (const kind of order) {
        const result = await measure(kind, transport, era, options);
        perRound[era][transport][kind].push(result);
        process.stderr.write(
          `[protocol] round ${round + 1}/${options.rounds} ${era} ${transport.padEnd(5)} ${kind.padEnd(6)} ` +
            `p50 ${result.p50.toFixed(3)} ms  p99 ${result.p99.toFixed(3)} ms  ` +
            `${Math.round(result.callsPerSecond)} calls/s  server CPU ${result.cpuPerCall.toFixed(0)} µs/call  RSS ${result.rss.toFixed(1)} MiB\n`,
        );
      }
    }
  }

  const results = {};
  for (const era of Object.keys(ERAS)) for (const transport of TRANSPORTS) {
    results[era] ??= {};
    results[era][transport] = {};
    for (const kind of Object.keys(SERVERS)) {
      const rounds = perRound[era][transport][kind];
      results[era][transport][kind] = Object.fromEntries(
        ['p50', 'p95', 'p99', 'callsPerSecond', 'cpuPerCall', 'rss'].map((metric) => [metric, median(rounds.map((r) => r[metric]))]),
      );
    }
  }

  const { markdown } = table(results, options);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, options.quick ? 'protocol-quick.md' : 'protocol.md');
  writeFileSync(file, markdown);
  process.stdout.write(markdown);
  process.stderr.write(`[protocol] wrote ${file}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`[protocol] failed: ${error?.stack ?? error}\n`);
    killAll();
    process.exit(1);
  },
);
