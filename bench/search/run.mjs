// Search server speed, in one run, over MCP stdio as an agent calls it:
// 1. fetch + convert of the local fixture site (60 articles, a table page, a PDF) by web_fetch,
//    against fetching the same pages and running turndown (+GFM) on the raw HTML;
// 2. cache-hit latency of web_fetch and web_search; and a web_fetch of a page another server
//    process fetched, from the SQLite file against from a shared Redis (--cache-url);
// 3. 100 concurrent web_search calls against a provider that refuses more than 4 requests in
//    flight, against the same 100 requests sent straight to it.
//
//   node bench/search/run.mjs [--quick]
//
// The table goes to stdout and to bench/results/search.md (search-quick.md with --quick).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gfm } from '@joplin/turndown-plugin-gfm';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import TurndownService from 'turndown';
import { Cache } from '@fathom/core';
import { loadTs } from '../lib/load-ts.mjs';
import { percentile, ms, timed } from '../lib/stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const quick = process.argv.includes('--quick');
const rounds = quick ? 1 : 3;
const work = mkdtempSync(join(tmpdir(), 'fathom-bench-search-'));
const log = (message) => process.stderr.write(`search: ${message}\n`);

const median = (values) => percentile(values, 50);

async function connect(flags) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(root, 'servers/search/dist/main.js'), '--log-level', 'warn', '--egress-allow', '127.0.0.1', ...flags],
    stderr: 'inherit',
  });
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(transport);
  return client;
}

async function tool(client, name, args) {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  if (result.isError) throw new Error(`${name}: ${result.content?.[0]?.text}`);
  return result;
}

async function pool(items, concurrency, work) {
  const queue = [...items];
  const out = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (queue.length) {
      const item = queue.shift();
      out.push(await work(item));
    }
  }));
  return out;
}

const { startFixtureSite, CHROME_TEXT } = await loadTs('tests/fixtures/site.ts');
const { startRateLimitedSerper } = await loadTs('tests/fixtures/rate-limited-serper.ts');
const site = await startFixtureSite();
const urls = [...site.articles.map((article) => `${site.url}${article.path}`), `${site.url}/data/table.html`, `${site.url}/docs/report.pdf`];
const facts = new Map(site.articles.map((article) => [`${site.url}${article.path}`, article.fact]));
const chrome = Object.values(CHROME_TEXT);

// ---- 1. fetch + convert ----
function quality(url, markdown) {
  const fact = facts.get(url);
  return { tokens: countTokens(markdown), kept: fact ? markdown.includes(fact) : true, chrome: chrome.some((text) => markdown.includes(text)) };
}

log('Fathom web_fetch');
const fathomRuns = [];
let fathomQuality = [];
for (let round = 0; round < rounds; round++) {
  const client = await connect(['--cache-mode', 'off']);
  // Warm the converter workers (each compiles the HTML libraries on its first pages), as in a running server.
  await pool([...urls, ...urls], 4, (url) => tool(client, 'web_fetch', { url }));
  const [wall, pages] = await timed(() =>
    pool(urls, 4, async (url) => {
      const result = await tool(client, 'web_fetch', { url, max_chars: 200_000 });
      return { url, text: result.content[0].text };
    }),
  );
  fathomRuns.push(wall);
  fathomQuality = pages.map((page) => quality(page.url, page.text));
  await client.close();
}

log('fetch + turndown on raw HTML');
const turndown = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced' });
turndown.use(gfm);
const turndownRuns = [];
let turndownQuality = [];
const htmlUrls = urls.filter((url) => !url.endsWith('.pdf'));
for (let round = 0; round < rounds; round++) {
  await pool(htmlUrls, 4, async (url) => turndown.turndown(await (await fetch(url)).text()));
  const [wall, pages] = await timed(() =>
    pool(htmlUrls, 4, async (url) => {
      const html = await (await fetch(url)).text();
      return { url, text: turndown.turndown(html) };
    }),
  );
  turndownRuns.push(wall);
  turndownQuality = pages.map((page) => quality(page.url, page.text));
}

// ---- 2. cache hits ----
log('cache hits');
const limited = await startRateLimitedSerper({ concurrency: 4, latencyMs: 50, apiKey: 'bench-key' });
const cachePath = join(work, 'cache.sqlite');
const cached = await connect(['--cache-mode', 'normal', '--cache-path', cachePath, '--search-providers', 'serper', '--serper-api-key', 'bench-key', '--serper-base-url', limited.url]);
const fetchMiss = [];
const fetchHit = [];
for (const url of htmlUrls) {
  fetchMiss.push((await timed(() => tool(cached, 'web_fetch', { url })))[0]);
  fetchHit.push((await timed(() => tool(cached, 'web_fetch', { url })))[0]);
}
const searchMiss = [];
const searchHit = [];
for (let i = 0; i < 40; i++) {
  searchMiss.push((await timed(() => tool(cached, 'web_search', { query: `cache probe ${i}` })))[0]);
  searchHit.push((await timed(() => tool(cached, 'web_search', { query: `cache probe ${i}` })))[0]);
}
await cached.close();

// ---- 2b. hits from a cache another process filled: SQLite file against Redis ----
// The second server is a fresh process: nothing in its memory, so every page comes from the
// store (read, decompressed, converted), as in a worker that starts after another fetched it.
log('cache hits across processes: SQLite and Redis');
const { REDIS_SERVER, startRedis } = await loadTs('tests/services.ts');
async function crossProcessHits(flags) {
  const filler = await connect(['--cache-mode', 'normal', ...flags]);
  for (const url of htmlUrls) await tool(filler, 'web_fetch', { url });
  await filler.close();
  const reader = await connect(['--cache-mode', 'normal', ...flags]);
  // Warms the converter workers with whole-page reads (from the store too, but another memory key).
  await pool(htmlUrls, 4, (url) => tool(reader, 'web_fetch', { url, main_content: false }));
  const times = [];
  for (const url of htmlUrls) {
    const [took, result] = await timed(() => tool(reader, 'web_fetch', { url }));
    if (!result.structuredContent?.from_cache) throw new Error(`not a cache hit: ${url}`);
    times.push(took);
  }
  await reader.close();
  return times;
}
/** The store alone: Cache.get of 100 stored pages (about 40 KB of HTML each, compressed), 3 rounds, in this process. */
async function storeGets(options) {
  const cache = Cache.open(options);
  const page = (i) => Array.from({ length: 1000 }, (_, line) => `<p class="l${line}">Paragraph ${line} of page ${i}.</p>`).join('\n');
  for (let i = 0; i < 100; i++) await cache.set('fetch', { url: `page-${i}` }, page(i));
  const times = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 100; i++) times.push((await timed(() => cache.get('fetch', { url: `page-${i}` })))[0]);
  }
  await cache.close();
  return times;
}
const sqliteHits = await crossProcessHits(['--cache-path', join(work, 'shared', 'cache.sqlite')]);
const sqliteGets = await storeGets({ path: join(work, 'gets', 'cache.sqlite') });
let redisHits;
let redisGets;
if (REDIS_SERVER) {
  const redis = await startRedis();
  try {
    redisHits = await crossProcessHits(['--cache-path', join(work, 'redis-side', 'cache.sqlite'), '--cache-url', redis.url]);
    redisGets = await storeGets({ url: redis.url });
  } finally {
    await redis.stop();
  }
} else log('redis-server not found: the Redis column is left empty (apt-get install redis-server)');

// ---- 3. 100 concurrent searches against a rate-limited provider ----
log('100 concurrent searches');
const before = { served: limited.served, refused: limited.refused };
const limitedClient = await connect(['--cache-mode', 'off', '--search-providers', 'serper', '--serper-api-key', 'bench-key', '--serper-base-url', limited.url, '--provider-concurrency', '4']);
const [searchWall, outcomes] = await timed(() =>
  Promise.all(Array.from({ length: 100 }, (_, i) => limitedClient.callTool({ name: 'web_search', arguments: { query: `concurrent ${i}` } }, undefined, { timeout: 120_000 }))),
);
const fathomOk = outcomes.filter((result) => !result.isError && result.structuredContent?.results?.length === 10).length;
const fathomRefused = limited.refused - before.refused;
const fathomPeak = limited.peak;
await limitedClient.close();
const naiveBefore = limited.refused;
const [naiveWall, naive] = await timed(() =>
  Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      fetch(`${limited.url}/search`, { method: 'POST', headers: { 'x-api-key': 'bench-key', 'content-type': 'application/json' }, body: JSON.stringify({ q: `naive ${i}`, num: 10 }) }).then((response) => response.status),
    ),
  ),
);
const naiveOk = naive.filter((status) => status === 200).length;
const naiveRefused = limited.refused - naiveBefore;
await limited.close();
await site.close();

// ---- table ----
const pagesPerSecond = (count, wall) => (count / (wall / 1000)).toFixed(0);
const meanTokens = (rows) => Math.round(rows.reduce((sum, row) => sum + row.tokens, 0) / rows.length);
const htmlRows = (rows) => rows.filter((_, index) => index < site.articles.length);
const lines = [
  `# Search server benchmark${quick ? ' (quick)' : ''}`,
  '',
  `${new Date().toISOString().slice(0, 10)}, Node ${process.version}. Fathom numbers are MCP tools/call round trips over stdio to the search server; the local fixture site serves ${urls.length} pages (${site.articles.length} articles with nav, sidebar and footer, a table page, a PDF) on loopback; 4 requests in flight; median of ${rounds} run${rounds > 1 ? 's' : ''}. Tokens: gpt-tokenizer o200k_base.`,
  '',
  '| Fetch + convert | pages/s | tokens/page (articles) | article facts kept | pages with nav/sidebar/footer text |',
  '|---|--:|--:|--:|--:|',
  `| Fathom web_fetch (main content, markdown) | ${pagesPerSecond(urls.length, median(fathomRuns))} | ${meanTokens(htmlRows(fathomQuality))} | ${htmlRows(fathomQuality).filter((row) => row.kept).length} / ${site.articles.length} | ${htmlRows(fathomQuality).filter((row) => row.chrome).length} |`,
  `| fetch + turndown + GFM on raw HTML (no PDF) | ${pagesPerSecond(htmlUrls.length, median(turndownRuns))} | ${meanTokens(htmlRows(turndownQuality))} | ${htmlRows(turndownQuality).filter((row) => row.kept).length} / ${site.articles.length} | ${htmlRows(turndownQuality).filter((row) => row.chrome).length} |`,
  '',
  '| Cache (ms, p50 / p95) | miss | hit |',
  '|---|--:|--:|',
  `| web_fetch, ${htmlUrls.length} pages | ${ms(percentile(fetchMiss, 50))} / ${ms(percentile(fetchMiss, 95))} | ${ms(percentile(fetchHit, 50))} / ${ms(percentile(fetchHit, 95))} |`,
  `| web_search, 40 queries (provider answers in 50 ms) | ${ms(percentile(searchMiss, 50))} / ${ms(percentile(searchMiss, 95))} | ${ms(percentile(searchHit, 50))} / ${ms(percentile(searchHit, 95))} |`,
  '',
  `Hits in one server: a page fetched again comes from the server's memory of its last 32 pages; a search from the cache store.`,
  '',
  '| web_fetch hit from a cache another server process filled (ms) | SQLite file | Redis (--cache-url, loopback) |',
  '|---|--:|--:|',
  `| p50, ${htmlUrls.length} pages | ${ms(percentile(sqliteHits, 50))} | ${redisHits ? ms(percentile(redisHits, 50)) : 'no redis-server'} |`,
  `| p95 | ${ms(percentile(sqliteHits, 95))} | ${redisHits ? ms(percentile(redisHits, 95)) : 'no redis-server'} |`,
  `| Cache.get alone, in one process (40 KB pages, p50 / p95) | ${ms(percentile(sqliteGets, 50))} / ${ms(percentile(sqliteGets, 95))} | ${redisGets ? `${ms(percentile(redisGets, 50))} / ${ms(percentile(redisGets, 95))}` : 'no redis-server'} |`,
  '',
  '| 100 concurrent searches, provider allows 4 in flight (50 ms each) | succeeded | refused (429) | most in flight | wall time |',
  '|---|--:|--:|--:|--:|',
  `| Fathom web_search (provider concurrency 4) | ${fathomOk} / 100 | ${fathomRefused} | ${fathomPeak} | ${ms(searchWall)} ms |`,
  `| 100 requests straight to the provider | ${naiveOk} / 100 | ${naiveRefused} | | ${ms(naiveWall)} ms |`,
  '',
];
const table = lines.join('\n');
process.stdout.write(table + '\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results', quick ? 'search-quick.md' : 'search.md'), table);
rmSync(work, { recursive: true, force: true });
process.exit(0);
