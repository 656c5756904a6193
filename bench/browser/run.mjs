// Browser servers compared in one run, on the same local pages (the fixture site's articles,
// served on loopback), both driving Debian's Chromium: Fathom's browser server against
// @playwright/mcp. Measured: navigate-and-read latency p50/p95 and tokens returned per page (one
// session over stdio), then 10 sessions in parallel over HTTP (wall time, memory of the server
// and its Chromium processes).
//
//   node bench/browser/run.mjs [--quick]
//
// The table goes to stdout and to bench/results/browser.md (browser-quick.md with --quick).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { loadTs } from '../lib/load-ts.mjs';
import { percentile } from '../lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const quick = process.argv.includes('--quick');
const PAGES = quick ? 15 : 40;
const SESSIONS = 10;
const PER_SESSION = quick ? 3 : 6;
const work = mkdtempSync(join(tmpdir(), 'fathom-bench-browser-'));
const log = (message) => process.stderr.write(`browser: ${message}\n`);

const { startFixtureSite } = await loadTs('tests/fixtures/site.ts');
const site = await startFixtureSite();
const urls = site.articles.slice(0, PAGES).map((article) => `${site.url}${article.path}`);
const facts = site.articles.slice(0, PAGES).map((article) => article.fact);

const servers = {
  fathom: {
    label: 'Fathom browser server',
    command: (port) => [join(root, 'servers/browser/dist/main.js'), '--log-level', 'warn', '--egress-allow', '127.0.0.1', '--output-dir', join(work, 'fathom'), ...(port ? ['--transport', 'http', '--port', String(port), '--max-contexts', '32'] : [])],
  },
  playwright: {
    label: '@playwright/mcp 0.0.83',
    command: (port) => [
      join(root, 'node_modules/@playwright/mcp/cli.js'),
      '--headless',
      '--isolated',
      '--no-sandbox',
      '--executable-path',
      '/usr/bin/chromium',
      '--output-dir',
      join(work, 'playwright'),
      ...(port ? ['--port', String(port)] : []),
    ],
  },
};

/** Proportional memory (PSS: shared pages split between their users) of a process and all its descendants, in MB. */
function treeRss(pid) {
  const children = new Map();
  const rss = new Map();
  for (const name of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
      rss.set(Number(name), Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/smaps_rollup`, 'utf8'))?.[1] ?? 0));
    } catch {
      // gone
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const next = stack.pop();
    total += rss.get(next) ?? 0;
    stack.push(...(children.get(next) ?? []));
  }
  return total / 1024;
}

function textOf(result) {
  return (result.content ?? []).filter((block) => block.type === 'text').map((block) => block.text).join('\n');
}

async function sequential(name) {
  const server = servers[name];
  const transport = new StdioClientTransport({ command: process.execPath, args: server.command(), stderr: 'ignore' });
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(transport);
  await client.callTool({ name: 'browser_navigate', arguments: { url: `${site.url}/` } }, undefined, { timeout: 120_000 });
  const latencies = [];
  const tokens = [];
  let kept = 0;
  for (const [index, url] of urls.entries()) {
    const started = performance.now();
    const result = await client.callTool({ name: 'browser_navigate', arguments: { url } }, undefined, { timeout: 120_000 });
    let text = textOf(result);
    // @playwright/mcp saves the page snapshot to a file on navigate: reading the page takes a browser_snapshot.
    if (name === 'playwright') text += '\n' + textOf(await client.callTool({ name: 'browser_snapshot', arguments: {} }, undefined, { timeout: 120_000 }));
    latencies.push(performance.now() - started);
    tokens.push(countTokens(text));
    if (text.includes(facts[index])) kept++;
  }
  const rss = treeRss(transport.pid);
  await client.close();
  return { latencies, tokens, kept, rss };
}

async function parallel(name, port) {
  const server = servers[name];
  const child = spawn(process.execPath, server.command(port), { stdio: 'ignore' });
  const url = name === 'fathom' ? `http://127.0.0.1:${port}/mcp` : `http://localhost:${port}/mcp`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url.replace('/mcp', name === 'fathom' ? '/healthz' : '/mcp'), { method: 'GET' });
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const clients = await Promise.all(
    Array.from({ length: SESSIONS }, async () => {
      const client = new Client({ name: 'bench', version: '0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      return client;
    }),
  );
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, index) => {
      for (let page = 0; page < PER_SESSION; page++) {
        await client.callTool({ name: 'browser_navigate', arguments: { url: urls[(index * PER_SESSION + page) % urls.length] } }, undefined, { timeout: 120_000 });
        if (name === 'playwright') await client.callTool({ name: 'browser_snapshot', arguments: {} }, undefined, { timeout: 120_000 });
      }
    }),
  );
  const wall = performance.now() - started;
  const rss = treeRss(child.pid);
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  return { wall, rss };
}

const results = {};
for (const name of ['fathom', 'playwright']) {
  log(`${name}: ${urls.length} pages, one session`);
  const one = await sequential(name);
  log(`${name}: ${SESSIONS} sessions in parallel`);
  const many = await parallel(name, 20_000 + Math.floor(Math.random() * 20_000));
  results[name] = { ...one, many };
}
await site.close();

const row = (name) => {
  const r = results[name];
  const mean = r.tokens.reduce((sum, value) => sum + value, 0) / r.tokens.length;
  return `| ${servers[name].label} | ${percentile(r.latencies, 50).toFixed(0)} / ${percentile(r.latencies, 95).toFixed(0)} | ${Math.round(mean).toLocaleString('en-US')} | ${r.kept} / ${urls.length} | ${r.rss.toFixed(0)} | ${(r.many.wall / 1000).toFixed(1)} s | ${r.many.rss.toFixed(0)} |`;
};
const lines = [
  `# Browser benchmark${quick ? ' (quick)' : ''}`,
  '',
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}, Debian Chromium, headless. ${urls.length} article pages of the local fixture site (nav, sidebar, footer, tables) on loopback. Latency: an MCP tools/call browser_navigate round trip, page read included. Tokens: gpt-tokenizer o200k_base of the text returned. Memory: PSS (proportional set size, shared pages split) of the server and all its child processes, Chromium included. For @playwright/mcp, navigate-and-read is browser_navigate then browser_snapshot, since its navigate writes the snapshot to a file. Parallel: ${SESSIONS} MCP sessions over HTTP, ${PER_SESSION} pages each.`,
  '',
  '| Server | navigate+read ms p50 / p95 | tokens per page | article fact in the answer | PSS after, 1 session (MB) | 10 sessions: wall | 10 sessions: PSS (MB) |',
  '|---|--:|--:|--:|--:|--:|--:|',
  row('fathom'),
  row('playwright'),
  '',
  'Targets: at most 1,500 tokens per page with the main text kept, no slower than @playwright/mcp, under 0.5 GB for 10 sessions.',
  '',
];
const table = lines.join('\n');
process.stdout.write(table + '\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results', quick ? 'browser-quick.md' : 'browser.md'), table);
rmSync(work, { recursive: true, force: true });
process.exit(0);
