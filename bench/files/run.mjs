// Document conversion: Fathom's converters (@fathom/files/convert, as built) against the usual tools,
// on real documents found on this machine, in the same run.
//
//   node bench/files/run.mjs [--quick] [--only pdf,docx,html] [--rounds R] [--html-pages N] [--docx N]
//                            [--timeout-s S]
//
// 1. PDF text: Fathom's PDF converter (in-process, and split across 2 worker threads when pdf.js
//    exports convertPdfPages) vs poppler's `pdftotext file -` (spawned) vs pdf-parse.
// 2. DOCX: Fathom's DOCX converter vs `pandoc -f docx -t gfm` (spawned), on DOCX files pandoc
//    makes from real HTML pages at the start of the run (in a temp dir, removed at the end).
// 3. HTML to markdown: Fathom's htmlToMarkdown (main content) vs turndown + GFM on the raw HTML vs
//    linkedom + Readability + turndown.
//
// Documents are the real ones installed here: PDFs under /usr/share (gzipped ones are unpacked to
// the temp dir), HTML documentation of the Rust toolchain under /root/.rustup and of the packages
// under /usr/share/doc. Nothing touches the network: HTML handed to pandoc loses its iframes and
// remote images first. The markdown tables go to stdout and to bench/results/files.md
// (files-quick.md with --quick; --only pdf,html writes files-pdf-html.md); progress and notes go
// to stderr.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { gfm } from '@joplin/turndown-plugin-gfm';
import { Readability } from '@mozilla/readability';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import JSZip from 'jszip';
import { parseHTML } from 'linkedom';
import TurndownService from 'turndown';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, '..', 'results');

/** The issue's targets. */
const TARGET = {
  /** pdftotext's pages/s measured elsewhere on this machine; the verdict uses this run's figure. */
  pdfReferencePagesPerSecond: 241,
  /** Word agreement with pdftotext that counts as "the same text". */
  pdfAgreement: 0.99,
  htmlP50Ms: 27,
  htmlTokenRatio: 1.1,
};

const PDF_NAMED = [
  '/usr/share/doc/libtasn1-doc/libtasn1.pdf',
  '/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf',
  '/usr/share/matplotlib/mpl-data/images/matplotlib.pdf',
];
const RUST_DOCS = '/root/.rustup/toolchains';
const USR_DOCS = '/usr/share/doc';
/** Generated or redirect-only parts of the Rust docs: not pages anyone reads. */
const RUST_SKIP = new Set(['src', 'static.files', 'search.index', 'trait.impl', 'type.impl']);
const HTML_MIN_BYTES = 2048;
const HTML_MAX_BYTES = 1536 * 1024;

// ---------------------------------------------------------------- options

function parseOptions(argv) {
  const quick = argv.includes('--quick');
  const options = quick
    ? { rounds: 1, htmlPages: 30, docx: 8, timeoutS: 540 }
    : { rounds: 5, htmlPages: 90, docx: 24, timeoutS: 2100 };
  const numeric = { '--rounds': 'rounds', '--html-pages': 'htmlPages', '--docx': 'docx', '--timeout-s': 'timeoutS' };
  options.only = ['pdf', 'docx', 'html'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') continue;
    if (arg === '--only') {
      options.only = String(argv[++i] ?? '').split(',').filter(Boolean);
      if (options.only.length === 0 || options.only.some((part) => !['pdf', 'docx', 'html'].includes(part))) throw new Error('--only takes a comma-separated list of pdf, docx, html');
      continue;
    }
    const key = numeric[arg];
    if (!key) throw new Error(`Unknown option ${arg}; known: --quick --only ${Object.keys(numeric).join(' ')}`);
    const value = Number(argv[++i]);
    if (!Number.isInteger(value) || value < 1 || value > 100_000) throw new Error(`${arg} needs an integer from 1 to 100000`);
    options[key] = value;
  }
  // Per-document repetitions for the fast (in-process, per-page) measurements.
  options.reps = quick ? 2 : Math.max(5, options.rounds);
  return { quick, ...options };
}

// ---------------------------------------------------------------- process hygiene

/** Every child process this run started, so that none outlives it. */
const children = new Set();
const workers = new Set();
let tempDir;

function cleanUp() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const worker of workers) void worker.terminate();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

function note(text) {
  process.stderr.write(`[files] ${text}\n`);
}

/** Runs a command to completion (killed at the time limit); its stdout, stderr tail and wall time. */
function run(command, args, { timeoutMs = 120_000, maxBytes = 256 * 1024 * 1024, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
    children.add(child);
    const chunks = [];
    let size = 0;
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4096);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      const ms = performance.now() - start;
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve({ stdout: Buffer.concat(chunks), stderr, ms });
      else reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? `code ${code}`}${size > maxBytes ? ' (output too large)' : ''}: ${stderr.trim()}`));
    });
  });
}

async function hasCommand(command, args) {
  try {
    await run(command, args, { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- measures

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

/**
 * Words as a multiset: letters and digits, lower-cased; markdown syntax and escapes fall away.
 * `joined` is every word run together, for words that markup split or joined differently.
 */
function words(text) {
  const list = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const counts = new Map();
  for (const word of list) counts.set(word, (counts.get(word) ?? 0) + 1);
  counts.joined = list.join('');
  return counts;
}

const HTML_TAG = /<\/?(?:a|b|blockquote|br|caption|code|col|colgroup|dd|div|dl|dt|em|figcaption|figure|h[1-6]|hr|i|img|li|ol|p|pre|span|strong|sub|sup|table|tbody|td|tfoot|th|thead|tr|u|ul)\b[^<>]*>/gi;
const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * The words of markdown as a reader sees them: without link targets; with rawHtml, also without
 * HTML tags and entities (pandoc writes tables GFM cannot hold as HTML).
 */
function markdownWords(markdown, { rawHtml = false } = {}) {
  let text = markdown.replace(/\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+"[^"]*")?\)/g, ']');
  if (rawHtml) text = text.replace(HTML_TAG, ' ').replace(/&(amp|lt|gt|quot|apos|nbsp);/g, (_, name) => ENTITIES[name]);
  return words(text);
}

const BLOCKS = new Set(
  'ADDRESS ARTICLE ASIDE BLOCKQUOTE BR CAPTION DD DETAILS DIV DL DT FIELDSET FIGCAPTION FIGURE FOOTER FORM H1 H2 H3 H4 H5 H6 HEADER HR LI MAIN NAV OL P PRE SECTION SUMMARY TABLE TBODY TD TFOOT TH THEAD TR UL'.split(' '),
);

/** The text of an HTML fragment with a line break at each block boundary (textContent runs blocks together). */
function blockText(html) {
  const { document } = parseHTML(`<!doctype html><html><body>${html}</body></html>`);
  const parts = [];
  const stack = [document.body];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') {
      parts.push(node);
    } else if (node.nodeType === 3) {
      parts.push(node.data);
    } else if (node.nodeType === 1) {
      const block = BLOCKS.has(node.tagName);
      if (block) parts.push('\n');
      if (block) stack.push('\n');
      for (let child = node.lastChild; child; child = child.previousSibling) stack.push(child);
    }
  }
  return parts.join('');
}

/**
 * How many of the reference's words (multiset) the candidate has, and which are missing. A word
 * the candidate lacks still counts as found where it occurs in the candidate's run-together words
 * (inline markup joins or splits words differently: "ThinBox" + "Experimental"); single letters
 * must match exactly.
 */
function coverage(reference, candidate) {
  let total = 0;
  let found = 0;
  const missing = new Map();
  for (const [word, n] of reference) {
    let have = Math.min(n, candidate.get(word) ?? 0);
    if (have < n && word.length >= 2 && candidate.joined) {
      let occurrences = 0;
      for (let at = candidate.joined.indexOf(word); at !== -1 && occurrences < n; at = candidate.joined.indexOf(word, at + word.length)) occurrences++;
      have = Math.max(have, Math.min(n, occurrences));
    }
    total += n;
    found += have;
    if (have < n) missing.set(word, n - have);
  }
  return { total, found, share: total === 0 ? 1 : found / total, missing };
}

/**
 * pdftotext's text without its running lines: page numbers and lines among the top or bottom two
 * of a page that recur (digits aside) at a page edge on at least 3 pages. Fathom drops those on
 * purpose, so "the same text" is judged on the rest.
 */
function withoutRunningLines(text) {
  const pages = text.split('\f').map((page) => page.split('\n').map((line) => line.trim()).filter(Boolean));
  const key = (line) => line.toLowerCase().replace(/\d+/g, '#').replace(/\s+/g, ' ');
  const edges = (lines) => new Set([...lines.slice(0, 2), ...lines.slice(-2)]);
  const seen = new Map();
  for (const lines of pages) for (const k of new Set([...edges(lines)].map(key))) seen.set(k, (seen.get(k) ?? 0) + 1);
  return pages
    .map((lines) => {
      const edge = edges(lines);
      return lines.filter((line) => !(edge.has(line) && (/^[\divxlc]+$/i.test(line) || seen.get(key(line)) >= 3))).join('\n');
    })
    .join('\n\n');
}

function topMissing(missing, limit = 12) {
  return [...missing.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([word, n]) => (n > 1 ? `${word}×${n}` : word))
    .join(' ');
}

/** Rows of GFM tables (header and body, not the --- line). */
function gfmRows(markdown) {
  let rows = 0;
  for (const line of markdown.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed.startsWith('|') || !trimmed.endsWith('|') || trimmed.length < 2) continue;
    if (/^\|(\s*:?-{3,}:?\s*\|)+$/.test(trimmed)) continue;
    rows++;
  }
  return rows;
}

const htmlRows = (markdown) => (markdown.match(/<tr[\s>]/gi) ?? []).length;
const hasBase64 = (markdown) => /data:[\w/+.-]+;base64,/i.test(markdown) || /[A-Za-z0-9+/]{400,}/.test(markdown);

const fmt = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const int = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a');
const pct = (value, digits = 1) => (Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : 'n/a');

// ---------------------------------------------------------------- corpus

/** Files under dir whose name passes keep, depth-first in path order, at most limit of them. */
function walk(dir, keep, limit = 200_000) {
  const found = [];
  const stack = [dir];
  let visited = 0;
  while (stack.length > 0 && visited < 1_000_000 && found.length < limit) {
    const current = stack.pop();
    let entries;
    try {
      entries = readdirSync(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))) {
      visited++;
      const path = join(current, entry.name);
      if (entry.isDirectory()) stack.push(path);
      else if (entry.isFile() && keep(path)) found.push(path);
    }
  }
  return found.sort();
}

async function pdfPages(path) {
  const { stdout } = await run('pdfinfo', [path], { timeoutMs: 20_000 });
  const match = /^Pages:\s+(\d+)/m.exec(stdout.toString('utf8'));
  return match ? Number(match[1]) : 0;
}

/** The named PDFs, plus every other multi-page PDF under /usr/share (gzipped ones unpacked). */
async function pdfCorpus() {
  const documents = [];
  for (const path of PDF_NAMED) if (!existsSync(path)) note(`skipping ${path}: not on this machine`);
  const found = walk('/usr/share', (path) => /\.pdf(\.gz)?$/i.test(path));
  const candidates = [...new Set([...PDF_NAMED.filter((path) => existsSync(path)), ...found])];
  for (const source of candidates) {
    let path = source;
    if (source.endsWith('.gz')) {
      path = join(tempDir, 'pdf', basename(source, '.gz'));
      mkdirSync(dirname(path), { recursive: true });
      try {
        writeFileSync(path, gunzipSync(readFileSync(source), { maxOutputLength: 200 * 1024 * 1024 }));
      } catch (error) {
        note(`skipping ${source}: ${error.message}`);
        continue;
      }
    }
    let pages;
    try {
      pages = await pdfPages(path);
    } catch (error) {
      note(`skipping ${source}: ${error.message.split('\n')[0]}`);
      continue;
    }
    if (pages < 2 && !PDF_NAMED.includes(source)) continue;
    documents.push({ source, path, name: source.replace(/^\/usr\/share\/(doc\/)?/, ''), pages, bytes: statSync(path).size });
  }
  return documents.sort((a, b) => a.pages - b.pages || (a.name < b.name ? -1 : 1));
}

/** The stable Rust toolchain's HTML docs, or the first toolchain's. */
function rustDocRoot() {
  let toolchains;
  try {
    toolchains = readdirSync(RUST_DOCS).sort();
  } catch {
    return undefined;
  }
  const ordered = [...toolchains.filter((name) => name.startsWith('stable')), ...toolchains];
  for (const name of ordered) {
    const path = join(RUST_DOCS, name, 'share', 'doc', 'rust', 'html');
    if (existsSync(path)) return path;
  }
  return undefined;
}

function isRealPage(path) {
  const head = readFileSync(path, 'latin1');
  return /<body[\s>]/i.test(head) && !/http-equiv=["']?refresh/i.test(head.slice(0, 4096));
}

/**
 * n pages from files grouped into collections (a book, a package): quotas go round-robin over the
 * collections in name order, and each collection's pages are spread over its size range (the page
 * nearest the middle of each size bucket that is a real page, not a redirect). Deterministic.
 */
function samplePages(files, collectionOf, n) {
  const collections = new Map();
  for (const file of files) {
    const key = collectionOf(file.path);
    if (!collections.has(key)) collections.set(key, []);
    collections.get(key).push(file);
  }
  const names = [...collections.keys()].sort();
  const quota = new Map(names.map((name) => [name, 0]));
  for (let given = 0, progress = true; given < n && progress; ) {
    progress = false;
    for (const name of names) {
      if (given >= n) break;
      if (quota.get(name) < collections.get(name).length) {
        quota.set(name, quota.get(name) + 1);
        given++;
        progress = true;
      }
    }
  }
  const picked = [];
  for (const name of names) {
    const bySize = collections.get(name).sort((a, b) => a.size - b.size || (a.path < b.path ? -1 : 1));
    const k = quota.get(name);
    const used = new Set();
    for (let bucket = 0; bucket < k; bucket++) {
      const lo = Math.floor((bucket * bySize.length) / k);
      const hi = Math.floor(((bucket + 1) * bySize.length) / k);
      const mid = Math.floor((lo + hi) / 2);
      for (let offset = 0; offset < hi - lo; offset++) {
        const index = offset % 2 === 0 ? mid + offset / 2 : mid - (offset + 1) / 2;
        if (index < lo || index >= hi || used.has(index)) continue;
        if (!isRealPage(bySize[index].path)) continue;
        used.add(index);
        picked.push({ ...bySize[index], collection: name });
        break;
      }
    }
  }
  return picked.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function htmlFiles(dir, skip) {
  return walk(dir, (path) => /\.html?$/i.test(path) && !skip(path))
    .map((path) => ({ path, size: statSync(path).size }))
    .filter((file) => file.size >= HTML_MIN_BYTES && file.size <= HTML_MAX_BYTES);
}

function htmlCorpus(total) {
  const pages = [];
  const rust = rustDocRoot();
  const rustShare = Math.round((total * 2) / 3);
  if (rust) {
    const files = htmlFiles(rust, (path) => RUST_SKIP.has(relative(rust, path).split('/')[0]) || !relative(rust, path).includes('/'));
    const sample = samplePages(files, (path) => `rust/${relative(rust, path).split('/')[0]}`, rustShare);
    pages.push(...sample);
  } else note(`no Rust documentation under ${RUST_DOCS}`);
  const usr = htmlFiles(USR_DOCS, () => false);
  pages.push(...samplePages(usr, (path) => `doc/${relative(USR_DOCS, path).split('/')[0]}`, total - pages.length));
  return pages.map((page) => ({ ...page, name: page.path.replace(/^.*\/share\/doc\/rust\/html\//, 'rust/').replace(/^\/usr\/share\/doc\//, 'doc/') }));
}

/** HTML that pandoc can turn into a DOCX without reaching out: no iframes, no remote media. */
function offlineHtml(html) {
  return html
    .replace(/<iframe\b[\s\S]*?(<\/iframe>|\/>)/gi, '')
    .replace(/<(img|embed|object|source|video|audio|track|input)\b[^>]*?\b(src|data|srcset|poster)\s*=\s*["']?\s*(https?:)?\/\/[^>]*>/gi, '');
}

/**
 * Tables of a DOCX body: all of them, and the "data tables" a GFM table can hold (two or more
 * grid columns, no table inside or around them) with their row count.
 */
function docxTables(xml) {
  const stack = [];
  const result = { tables: 0, dataTables: 0, dataRows: 0 };
  for (const match of xml.matchAll(/<w:tbl>|<\/w:tbl>|<w:tr[\s>]|<w:gridCol\b/g)) {
    const tag = match[0];
    if (tag === '<w:tbl>') {
      stack.push({ rows: 0, columns: 0, nested: stack.length > 0, holds: false });
      result.tables++;
    } else if (tag === '</w:tbl>') {
      const table = stack.pop();
      if (!table) continue;
      if (stack.length > 0) stack[stack.length - 1].holds = true;
      if (table.columns >= 2 && !table.nested && !table.holds) {
        result.dataTables++;
        result.dataRows += table.rows;
      }
    } else if (stack.length > 0) {
      if (tag === '<w:gridCol') stack[stack.length - 1].columns++;
      else stack[stack.length - 1].rows++;
    }
  }
  return result;
}

/** k items spread evenly over a list, in order. */
function spread(list, k) {
  if (k >= list.length) return [...list];
  return Array.from({ length: k }, (_, i) => list[Math.floor(((i + 0.5) * list.length) / k)]);
}

/** DOCX files made by pandoc from HTML pages of the corpus: two thirds from pages with tables. */
async function docxCorpus(htmlPages, n) {
  const withTables = htmlPages.filter((page) => /<table[\s>]/i.test(readFileSync(page.path, 'utf8')));
  const others = htmlPages.filter((page) => !withTables.includes(page));
  const tabled = spread(withTables, Math.max(n - others.length, Math.ceil((n * 2) / 3)));
  const chosen = [...tabled, ...spread(others, n - tabled.length)].sort((a, b) => (a.path < b.path ? -1 : 1));
  const documents = [];
  mkdirSync(join(tempDir, 'docx'), { recursive: true });
  for (const [index, page] of chosen.entries()) {
    const html = join(tempDir, 'docx', `${index}.html`);
    const docx = join(tempDir, 'docx', `${index}.docx`);
    writeFileSync(html, offlineHtml(readFileSync(page.path, 'utf8')));
    try {
      await run('pandoc', ['-f', 'html', '-t', 'docx', `--resource-path=${dirname(page.path)}`, '-o', docx, html], {
        timeoutMs: 60_000,
        cwd: dirname(page.path),
      });
    } catch (error) {
      note(`skipping DOCX of ${page.name}: ${error.message.split('\n')[0]}`);
      continue;
    }
    const bytes = readFileSync(docx);
    const zip = await JSZip.loadAsync(bytes);
    const xml = (await zip.file('word/document.xml')?.async('string')) ?? '';
    const { tables, dataTables, dataRows } = docxTables(xml);
    documents.push({ name: page.name, path: docx, bytes: bytes.length, tables, dataTables, rows: dataRows });
  }
  return documents;
}

// ---------------------------------------------------------------- tools

/** A module of @fathom/files (its build: npm run build), or undefined with a note when it does not load. */
async function importConverter(specifier) {
  try {
    return await import(specifier);
  } catch (error) {
    note(`cannot load ${specifier}: ${error.message.split('\n')[0]}`);
    return undefined;
  }
}

const markdownOf = (document) => document.sections.map((section) => section.markdown).join('\n\n');

/** A worker thread running one PDF extractor (bench/files/pdf-worker.mjs), asked one thing at a time. */
async function pdfWorker(tool) {
  const worker = new Worker(join(here, 'pdf-worker.mjs'), { workerData: { tool } });
  workers.add(worker);
  const pending = new Map();
  let failure;
  let nextId = 0;
  const ready = new Promise((resolve, reject) => pending.set('ready', { resolve, reject }));
  worker.on('message', (message) => {
    const waiter = pending.get(message.ready ? 'ready' : message.id);
    pending.delete(message.ready ? 'ready' : message.id);
    if (message.error) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message);
  });
  const fail = (error) => {
    failure = error;
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the ${tool} worker exited (${code})`)));
  await ready;
  return {
    ask(bytes, first, last) {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        const id = nextId++;
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, bytes, first, last });
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
      workers.delete(worker);
    },
  };
}

/** Contiguous page ranges, one per worker. */
function splitPages(pages, parts) {
  const per = Math.ceil(pages / parts);
  const ranges = [];
  for (let i = 0; i < parts && i * per < pages; i++) ranges.push([i * per + 1, Math.min(pages, (i + 1) * per)]);
  return ranges;
}

// ---------------------------------------------------------------- 1. PDF

async function benchPdf(options, env) {
  const documents = await pdfCorpus();
  env.pdf = documents;
  if (documents.length === 0) return { markdown: '### PDF text\n\nNo PDFs found on this machine.\n', verdict: [] };
  const tools = [];
  const opened = [];
  tools.push({
    key: 'pdftotext',
    label: 'pdftotext (poppler, spawned)',
    extract: async (doc) => (await run('pdftotext', [doc.path, '-'], { timeoutMs: 120_000 })).stdout.toString('utf8'),
  });
  const started = performance.now();
  const parse = await pdfWorker('pdfparse');
  opened.push(parse);
  tools.push({
    key: 'pdfparse',
    label: 'pdf-parse (`new PDFParse({data}).getText()`)',
    extract: async (doc) => (await parse.ask(new Uint8Array(doc.data))).text,
  });
  const pdfModule = await importConverter('@fathom/files/convert/pdf');
  if (pdfModule) {
    const fathom = await pdfWorker('fathom');
    opened.push(fathom);
    tools.push({
      key: 'fathom',
      label: 'Fathom `convert()`',
      extract: async (doc) => (await fathom.ask(new Uint8Array(doc.data))).text,
    });
    // Split across 2 threads: extractPdf on each half, assemblePdf here (the same output as one
    // thread, running lines judged over the whole file); else convertPdfPages per half.
    const assemble = typeof pdfModule.extractPdf === 'function' && typeof pdfModule.assemblePdf === 'function';
    if (assemble || typeof pdfModule.convertPdfPages === 'function') {
      const pool = [await pdfWorker(assemble ? 'extract' : 'pages'), await pdfWorker(assemble ? 'extract' : 'pages')];
      opened.push(...pool);
      env.pdfSplit = assemble ? '`extractPdf` per half in each thread, `assemblePdf` on the main thread' : '`convertPdfPages` per half';
      tools.push({
        key: 'fathom2',
        label: 'Fathom, pages split over 2 worker threads',
        extract: async (doc) => {
          const ranges = splitPages(doc.pages, pool.length);
          const answers = await Promise.all(ranges.map(([first, last], k) => pool[k].ask(new Uint8Array(doc.data), first, last)));
          return assemble ? markdownOf(pdfModule.assemblePdf(answers.map((answer) => answer.extract))) : answers.map((answer) => answer.text).join('\n\n');
        },
      });
    } else note('pdf.js exports neither extractPdf + assemblePdf nor convertPdfPages: no split-thread measurement');
  } else note('Fathom PDF converter not built (@fathom/files/convert/pdf): its rows are left out');
  env.pdfWorkersMs = performance.now() - started;

  try {
    for (const doc of documents) doc.data = readFileSync(doc.path);
    // Warm-up, untimed (module loading, JIT; each worker thread warms up on its own): every
    // document once, or with --quick the documents of up to 40 pages.
    const warm = options.quick ? documents.filter((doc) => doc.pages <= 40) : documents;
    for (const tool of tools) for (const doc of warm) await tool.extract(doc).catch(() => undefined);
    note(`PDF warm-up done (${sum(warm.map((doc) => doc.pages))} pages per extractor)`);

    const times = new Map(tools.map((tool) => [tool.key, documents.map(() => [])]));
    const texts = new Map(tools.map((tool) => [tool.key, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (const [d, doc] of documents.entries()) {
        const order = tools.map((_, i) => tools[(i + round + d) % tools.length]);
        for (const tool of order) {
          const start = performance.now();
          let text;
          try {
            text = await tool.extract(doc);
          } catch (error) {
            note(`${tool.key} failed on ${doc.name}: ${error.message.split('\n')[0]}`);
            text = undefined;
          }
          const ms = performance.now() - start;
          times.get(tool.key)[d].push(text === undefined ? NaN : ms);
          if (round === 0) texts.get(tool.key)[d] = text;
        }
      }
      note(`PDF round ${round + 1}/${options.rounds} done`);
    }

    const reference = documents.map((_, d) => words(texts.get('pdftotext')[d] ?? ''));
    const bodyReference = documents.map((_, d) => words(withoutRunningLines(texts.get('pdftotext')[d] ?? '')));
    const rows = [];
    const perDoc = [];
    for (const tool of tools) {
      const ms = documents.map((_, d) => median(times.get(tool.key)[d]));
      const ok = documents.map((_, d) => texts.get(tool.key)[d] !== undefined && Number.isFinite(ms[d]));
      const output = documents.map((_, d) => (ok[d] ? markdownWords(texts.get(tool.key)[d]) : undefined));
      const agreements = documents.map((_, d) => (ok[d] ? coverage(reference[d], output[d]) : undefined));
      const bodyAgreements = documents.map((_, d) => (ok[d] ? coverage(bodyReference[d], output[d]) : undefined));
      const share = (list) => {
        const total = sum(list.map((a, d) => a?.total ?? sum([...bodyReference[d].values()])));
        return total === 0 ? 1 : sum(list.map((a) => a?.found ?? 0)) / total;
      };
      const totalPages = sum(documents.map((doc, d) => (ok[d] ? doc.pages : 0)));
      const totalMs = sum(ms.filter((_, d) => ok[d]));
      const multiMs = sum(ms.filter((_, d) => ok[d] && documents[d].pages > 1));
      const multiPages = sum(documents.map((doc, d) => (ok[d] && doc.pages > 1 ? doc.pages : 0)));
      rows.push({
        tool,
        failed: ok.filter((v) => !v).length,
        pagesPerSecond: (totalPages * 1000) / totalMs,
        multiPagesPerSecond: (multiPages * 1000) / multiMs,
        totalMs,
        chars: sum(documents.map((_, d) => texts.get(tool.key)[d]?.length ?? 0)),
        agreement: share(agreements),
        minAgreement: Math.min(...agreements.map((a) => a?.share ?? 0)),
        bodyAgreement: share(bodyAgreements),
        minBodyAgreement: Math.min(...bodyAgreements.map((a) => a?.share ?? 0)),
      });
      perDoc.push({ tool, ms, agreements: bodyAgreements });
      if (tool.key === 'fathom' || tool.key === 'pdfparse') {
        for (const [d, a] of bodyAgreements.entries()) {
          if (a && a.share < 0.999) note(`${tool.key} misses ${a.total - a.found} of pdftotext's ${a.total} words on ${documents[d].name}: ${topMissing(a.missing)}`);
        }
      }
    }

    const base = rows.find((row) => row.tool.key === 'pdftotext');
    const lines = [
      '### PDF text extraction',
      '',
      `| extractor | pages/s (all ${sum(documents.map((d) => d.pages))} pages) | pages/s (multi-page files) | total ms | characters out | words of pdftotext found: all · body text (worst file) | vs pdftotext pages/s |`,
      '|---|--:|--:|--:|--:|---|--:|',
    ];
    for (const row of rows) {
      lines.push(
        `| ${row.tool.label}${row.failed ? ` (${row.failed} failed)` : ''} | ${fmt(row.pagesPerSecond)} | ${fmt(row.multiPagesPerSecond)} | ${int(row.totalMs)} | ${int(row.chars)} | ` +
          `${row.tool.key === 'pdftotext' ? 'reference' : `${pct(row.agreement, 2)} · ${pct(row.bodyAgreement, 2)} (${pct(row.minBodyAgreement)})`} | ${fmt(row.pagesPerSecond / base.pagesPerSecond, 2)}x |`,
      );
    }
    lines.push('', '| file | pages | KiB | ' + tools.map((tool) => `${tool.key} ms`).join(' | ') + ' | ' + tools.filter((t) => t.key !== 'pdftotext').map((t) => `${t.key} body words`).join(' | ') + ' |');
    lines.push('|---|--:|--:|' + tools.map(() => '--:|').join('') + tools.filter((t) => t.key !== 'pdftotext').map(() => '--:|').join(''));
    for (const [d, doc] of documents.entries()) {
      const cells = perDoc.map((entry) => fmt(entry.ms[d], 1));
      const agree = perDoc.filter((entry) => entry.tool.key !== 'pdftotext').map((entry) => pct(entry.agreements[d]?.share, 2));
      lines.push(`| ${doc.name} | ${doc.pages} | ${int(doc.bytes / 1024)} | ${cells.join(' | ')} | ${agree.join(' | ')} |`);
    }

    const verdict = [];
    const fathomRows = rows.filter((row) => row.tool.key.startsWith('fathom'));
    if (fathomRows.length === 0) {
      verdict.push({ target: 'PDF at pdftotext pages/s with the same text', status: 'not measured: pdf.js not built' });
    } else {
      const best = fathomRows.reduce((a, b) => (b.pagesPerSecond > a.pagesPerSecond ? b : a));
      const fast = best.pagesPerSecond >= base.pagesPerSecond;
      const same = best.bodyAgreement >= TARGET.pdfAgreement;
      verdict.push({
        target: `PDF: pdftotext's pages/s (${fmt(base.pagesPerSecond)} here; ${TARGET.pdfReferencePagesPerSecond} measured before) or better, same text (≥ ${pct(TARGET.pdfAgreement, 0)} of its body-text words)`,
        status:
          `${fast && same ? 'met' : 'NOT met'}: best Fathom row (${best.tool.label}) ${fmt(best.pagesPerSecond)} pages/s = ` +
          `${fmt(best.pagesPerSecond / base.pagesPerSecond, 2)}x pdftotext in this run (${fast ? 'met' : 'missed'}; ` +
          `${best.pagesPerSecond >= TARGET.pdfReferencePagesPerSecond ? 'above' : 'below'} the ${TARGET.pdfReferencePagesPerSecond} pages/s figure); ` +
          `${pct(best.bodyAgreement, 2)} of its body-text words, worst file ${pct(best.minBodyAgreement)} (${same ? 'met' : 'missed'})`,
      });
    }
    lines.push(
      '',
      `Each time is the median of ${options.rounds} round${options.rounds === 1 ? '' : 's'} per file (tools in rotating order, after an untimed warm-up pass over ${options.quick ? 'the files of up to 40 pages' : 'every file'}); pages/s = pages / sum of the medians. ` +
        'pdftotext is timed as a spawned process per file (start-up included). The others run in-process, each extractor in a worker thread of its own ' +
        "(pdf.js's core-js polyfills replace Array.prototype.push for a whole realm, which would slow whichever extractor loaded pdf.js second), timed from the main thread; " +
        `the threads start once before timing (${fmt(env.pdfWorkersMs)} ms for all, not counted)` +
        (env.pdfSplit ? `; the split row uses ${env.pdfSplit}` : '') +
        '. Words: letters and digits, lower-cased, as a multiset; the share of pdftotext\'s words found in the output (markdown syntax and link targets ignored; ' +
        'a word split or joined differently, e.g. by dehyphenation, counts where the output\'s words run together contain it). ' +
        '"Body text" leaves out the running lines Fathom drops on purpose: page numbers and lines at a page\'s top or bottom two that recur (digits aside) on 3 or more pages. ' +
        "Characters: each tool's whole output (pdf-parse adds page separators, Fathom markdown).",
    );
    return { markdown: lines.join('\n') + '\n', verdict };
  } finally {
    for (const doc of documents) delete doc.data;
    await Promise.all(opened.map((worker) => worker.close()));
  }
}

// ---------------------------------------------------------------- 2. DOCX

async function benchDocx(options, env, htmlPages) {
  if (!(await hasCommand('pandoc', ['--version']))) return { markdown: '### DOCX\n\npandoc is not installed: skipped.\n', verdict: [] };
  const documents = await docxCorpus(htmlPages, options.docx);
  env.docx = documents;
  if (documents.length === 0) return { markdown: '### DOCX\n\nNo DOCX could be made.\n', verdict: [] };
  const tools = [
    {
      key: 'pandoc',
      label: 'pandoc -f docx -t gfm (spawned)',
      extract: async (doc) => (await run('pandoc', ['-f', 'docx', '-t', 'gfm', doc.path], { timeoutMs: 60_000 })).stdout.toString('utf8'),
    },
  ];
  const index = await importConverter('@fathom/files/convert');
  if (index) {
    tools.unshift({
      key: 'fathom',
      label: 'Fathom `convert()`',
      extract: async (doc) => markdownOf(await index.convert({ bytes: new Uint8Array(doc.data), name: basename(doc.path) })),
    });
  } else note('Fathom DOCX converter not built: its row is left out');

  for (const doc of documents) doc.data = readFileSync(doc.path);
  for (const tool of tools) await tool.extract(documents[0]);
  const times = new Map(tools.map((tool) => [tool.key, documents.map(() => [])]));
  const outputs = new Map(tools.map((tool) => [tool.key, []]));
  for (let rep = 0; rep < options.reps; rep++) {
    for (const [d, doc] of documents.entries()) {
      for (const tool of rep % 2 === 0 ? tools : [...tools].reverse()) {
        const start = performance.now();
        let text;
        try {
          text = await tool.extract(doc);
        } catch (error) {
          if (rep === 0) note(`${tool.key} failed on ${doc.name}: ${error.message.split('\n')[0]}`);
        }
        times.get(tool.key)[d].push(text === undefined ? NaN : performance.now() - start);
        if (rep === 0) outputs.get(tool.key)[d] = text;
      }
    }
  }
  for (const doc of documents) delete doc.data;

  const pandocWords = documents.map((_, d) => markdownWords(outputs.get('pandoc')[d] ?? '', { rawHtml: true }));
  const sourceRows = sum(documents.map((doc) => doc.rows));
  const lines = [
    '### DOCX to markdown',
    '',
    `| converter | ms/doc p50 | ms/doc mean | ms/doc max | characters out | tokens out (o200k) | GFM table rows (source: ${sourceRows} data-table rows) | HTML table rows | docs with every data-table row as GFM | words of pandoc found | base64 in output |`,
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|',
  ];
  const summary = {};
  for (const tool of tools) {
    const ms = documents.map((_, d) => median(times.get(tool.key)[d]));
    const texts = outputs.get(tool.key);
    const good = texts.map((text) => text !== undefined);
    const markdowns = texts.map((text) => text ?? '');
    const recall = documents.map((_, d) => coverage(pandocWords[d], markdownWords(markdowns[d], { rawHtml: true })));
    const found = sum(recall.map((r) => r.found));
    const total = sum(recall.map((r) => r.total));
    const complete = documents.filter((doc, d) => gfmRows(markdowns[d]) >= doc.rows).length;
    summary[tool.key] = { rows: sum(markdowns.map(gfmRows)), complete, base64: markdowns.filter(hasBase64).length };
    lines.push(
      `| ${tool.label}${good.includes(false) ? ` (${good.filter((g) => !g).length} failed)` : ''} | ${fmt(median(ms.filter(Number.isFinite)), 1)} | ${fmt(sum(ms.filter(Number.isFinite)) / ms.filter(Number.isFinite).length, 1)} | ${fmt(Math.max(...ms.filter(Number.isFinite)), 0)} | ` +
        `${int(sum(markdowns.map((m) => m.length)))} | ${int(sum(markdowns.map((m) => countTokens(m))))} | ${int(summary[tool.key].rows)} | ${int(sum(markdowns.map(htmlRows)))} | ` +
        `${complete}/${documents.length} | ${tool.key === 'pandoc' ? 'reference' : `${pct(found / total)} (worst ${pct(Math.min(...recall.map((r) => r.share)))})`} | ${markdowns.filter(hasBase64).length} |`,
    );
    if (tool.key === 'fathom') {
      for (const [d, doc] of documents.entries()) if (ms[d] > 500) note(`fathom DOCX ${fmt(ms[d])} ms on ${doc.name} (${int(doc.bytes / 1024)} KiB)`);
      for (const [d, r] of recall.entries()) if (r.share < 0.99) note(`fathom DOCX misses ${r.total - r.found} of pandoc's ${r.total} words on ${documents[d].name}: ${topMissing(r.missing)}`);
      for (const [d, doc] of documents.entries()) if (gfmRows(markdowns[d]) < doc.rows) note(`fathom DOCX: ${documents[d].name} has ${doc.rows} data-table rows, ${gfmRows(markdowns[d])} GFM rows out`);
    }
  }
  lines.push(
    '',
    `${documents.length} DOCX files (${documents.filter((doc) => doc.tables > 0).length} with tables; ${sum(documents.map((doc) => doc.tables))} tables, of which ${sum(documents.map((doc) => doc.dataTables))} data tables ` +
      `with ${sourceRows} rows: two or more columns, no table inside or around them; the rest are one-cell boxes and layout tables), made with \`pandoc -f html -t docx\` from pages of the HTML corpus ` +
      `(iframes and remote images removed first). Times: median of ${options.reps} runs per document after a warm-up; pandoc is a spawned process per document (start-up included), Fathom runs in-process. ` +
      'GFM table rows: lines `| … |` that are not the `---` line; HTML table rows: `<tr>` (pandoc writes tables GFM cannot hold as HTML). ' +
      '"Every data-table row as GFM": documents whose GFM rows are at least their data-table rows. Words of pandoc found: as for PDF, HTML tags, entities and link targets left out. Tokens: gpt-tokenizer o200k_base.',
  );
  const verdict = [];
  if (summary.fathom) {
    const ok = summary.fathom.complete === documents.length && summary.fathom.base64 === 0;
    verdict.push({
      target: 'DOCX (no speed target; DESIGN.md): tables survive as GFM, no base64',
      status:
        `${ok ? 'met' : 'NOT met'}: every data-table row as GFM in ${summary.fathom.complete}/${documents.length} documents (pandoc ${summary.pandoc.complete}/${documents.length}); ` +
        `${summary.fathom.rows} GFM rows vs pandoc's ${summary.pandoc.rows}; base64 in ${summary.fathom.base64}`,
    });
  }
  return { markdown: lines.join('\n') + '\n', verdict };
}

// ---------------------------------------------------------------- 3. HTML

async function benchHtml(options, env, pages) {
  const html = await importConverter('@fathom/files/convert');
  const tools = [];
  if (html) {
    tools.push({ key: 'fathom', label: 'Fathom `htmlToMarkdown` (main content)', convert: (text) => html.htmlToMarkdown(text).markdown });
  } else note('Fathom @fathom/files/convert not built: its row is left out');
  const raw = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced' });
  raw.use(gfm);
  tools.push({ key: 'turndown', label: 'turndown + GFM plugin, raw HTML', convert: (text) => raw.turndown(text) });
  const usual = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced' });
  usual.use(gfm);
  const readability = (text) => {
    const { document } = parseHTML(text);
    return new Readability(document).parse();
  };
  tools.push({
    key: 'readability',
    label: 'linkedom + Readability + turndown',
    convert: (text) => usual.turndown(readability(text)?.content ?? ''),
  });

  const texts = pages.map((page) => readFileSync(page.path, 'utf8'));
  for (const tool of tools) for (const text of texts.slice(0, 3)) tool.convert(text);
  const times = new Map(tools.map((tool) => [tool.key, pages.map(() => [])]));
  const outputs = new Map(tools.map((tool) => [tool.key, []]));
  for (let rep = 0; rep < options.reps; rep++) {
    for (const [p, text] of texts.entries()) {
      for (const tool of rep % 2 === 0 ? tools : [...tools].reverse()) {
        const start = performance.now();
        let markdown;
        try {
          markdown = tool.convert(text);
        } catch (error) {
          if (rep === 0) note(`${tool.key} failed on ${pages[p].name}: ${error.message.split('\n')[0]}`);
        }
        times.get(tool.key)[p].push(markdown === undefined ? NaN : performance.now() - start);
        if (rep === 0) outputs.get(tool.key)[p] = markdown;
      }
    }
    note(`HTML repetition ${rep + 1}/${options.reps} done`);
  }

  // Readability's main text, the reference for recall (Readability run on the page as it is).
  const mainWords = texts.map((text) => words(blockText(readability(text)?.content ?? '')));
  const tokens = new Map(tools.map((tool) => [tool.key, outputs.get(tool.key).map((m) => (m === undefined ? NaN : countTokens(m)))]));
  const readabilityTokens = sum(tokens.get('readability').filter(Number.isFinite));
  const lines = [
    '### HTML to markdown',
    '',
    '| pipeline | ms/page p50 | ms/page p95 | ms/page mean | tokens/page mean (o200k) | tokens vs Readability pipeline | main-text recall (all · worst page) | pages losing main text |',
    '|---|--:|--:|--:|--:|--:|---|--:|',
  ];
  const stats = {};
  for (const tool of tools) {
    const ms = pages.map((_, p) => median(times.get(tool.key)[p])).filter(Number.isFinite);
    const toolTokens = tokens.get(tool.key).filter(Number.isFinite);
    const recall = pages.map((_, p) => coverage(mainWords[p], markdownWords(outputs.get(tool.key)[p] ?? '')));
    const found = sum(recall.map((r) => r.found));
    const total = sum(recall.map((r) => r.total));
    const losing = recall.filter((r) => r.found < r.total).length;
    stats[tool.key] = {
      p50: percentile(ms, 50),
      p95: percentile(ms, 95),
      ratio: sum(toolTokens) / readabilityTokens,
      recall: found / total,
      worst: Math.min(...recall.map((r) => r.share)),
      losing,
      lost: total - found,
    };
    lines.push(
      `| ${tool.label} | ${fmt(stats[tool.key].p50, 1)} | ${fmt(stats[tool.key].p95, 1)} | ${fmt(sum(ms) / ms.length, 1)} | ${int(sum(toolTokens) / toolTokens.length)} | ` +
        `${fmt(stats[tool.key].ratio, 2)}x | ${pct(stats[tool.key].recall, 2)} · ${pct(stats[tool.key].worst, 1)} | ${losing}/${pages.length} (${int(total - found)} words) |`,
    );
    if (tool.key === 'fathom') {
      for (const [p, r] of recall.entries()) {
        if (r.found < r.total) note(`fathom HTML loses ${r.total - r.found} of ${r.total} main-text words on ${pages[p].name}: ${topMissing(r.missing)}`);
      }
      const ratios = pages
        .map((page, p) => ({ page, ratio: tokens.get('fathom')[p] / tokens.get('readability')[p], ms: median(times.get('fathom')[p]) }))
        .sort((a, b) => b.ratio - a.ratio);
      for (const entry of ratios.slice(0, 5)) note(`fathom HTML tokens ${fmt(entry.ratio, 2)}x Readability's on ${entry.page.name}`);
      const slow = pages.map((page, p) => ({ page, ms: median(times.get('fathom')[p]) })).sort((a, b) => b.ms - a.ms);
      for (const entry of slow.slice(0, 5)) note(`fathom HTML ${fmt(entry.ms, 1)} ms on ${entry.page.name} (${int(entry.page.size / 1024)} KiB)`);
    }
  }
  const collections = [...new Set(pages.map((page) => page.collection))];
  lines.push(
    '',
    `${pages.length} pages, ${int(sum(pages.map((page) => page.size)) / 1024)} KiB of HTML (median ${int(median(pages.map((page) => page.size)) / 1024)} KiB, largest ${int(Math.max(...pages.map((page) => page.size)) / 1024)} KiB), ` +
      `from ${collections.length} collections: ${collections.join(', ')}. ` +
      `Each page's time is the median of ${options.reps} runs (pipelines alternate order) after a warm-up; p50/p95 are over pages. ` +
      'Main-text recall: the share of the words of Readability\'s article (Readability on the unmodified page; its text with a break at each block, as a multiset) that appear in the output ' +
        '(link targets left out; a word that inline markup joined or split differently counts where the output\'s words run together contain it); ' +
      '"pages losing main text" counts pages where any such word is missing. Turndown uses atx headings and fenced code in both comparison pipelines.',
  );
  const verdict = [];
  if (stats.fathom) {
    const f = stats.fathom;
    const fast = f.p50 < TARGET.htmlP50Ms;
    const small = f.ratio <= TARGET.htmlTokenRatio;
    const whole = f.losing === 0;
    verdict.push({
      target: `HTML: main content under ${TARGET.htmlP50Ms} ms/page p50, ≤ ${TARGET.htmlTokenRatio}x Readability's tokens, no main text lost`,
      status:
        `${fast && small && whole ? 'met' : 'NOT met'}: p50 ${fmt(f.p50, 1)} ms (${fast ? 'met' : 'missed'}), ${fmt(f.ratio, 2)}x tokens (${small ? 'met' : 'missed'}), ` +
        `${f.losing} page${f.losing === 1 ? '' : 's'} losing ${int(f.lost)} main-text words (${whole ? 'met' : 'missed'})`,
    });
  }
  return { markdown: lines.join('\n') + '\n', verdict };
}

// ---------------------------------------------------------------- reporting

function cpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return `${match ? match[1].trim() : (cpus()[0]?.model ?? 'unknown')} (${cpus().length} logical CPUs)`;
  } catch {
    return `${cpus()[0]?.model ?? 'unknown'} (${cpus().length} logical CPUs)`;
  }
}

async function versions() {
  const first = async (command, args) => {
    try {
      return (await run(command, args, { timeoutMs: 10_000 })).stdout.toString('utf8').split('\n')[0].trim();
    } catch {
      return `${command} missing`;
    }
  };
  const pdftotext = await run('pdftotext', ['-v'], { timeoutMs: 10_000 }).then(
    (result) => result.stderr.split('\n')[0].trim(),
    () => 'pdftotext missing',
  );
  return `${pdftotext}, ${await first('pandoc', ['--version'])}`;
}

// ---------------------------------------------------------------- main

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const watchdog = setTimeout(() => {
    note(`gave up after ${options.timeoutS} s`);
    cleanUp();
    process.exit(1);
  }, options.timeoutS * 1000);
  watchdog.unref();
  tempDir = mkdtempSync(join(tmpdir(), 'fathom-bench-files-'));
  if (!(await hasCommand('pdftotext', ['-v']))) throw new Error('pdftotext (poppler-utils) is not installed');

  const env = { load: loadavg()[0] };
  const htmlPages = htmlCorpus(options.htmlPages);
  note(`corpus: ${htmlPages.length} HTML pages`);
  const skipped = { markdown: '', verdict: [] };
  const docx = options.only.includes('docx') ? await benchDocx(options, env, htmlPages) : skipped;
  const pdf = options.only.includes('pdf') ? await benchPdf(options, env) : skipped;
  const htmlResult = options.only.includes('html') ? await benchHtml(options, env, htmlPages) : skipped;

  const verdicts = [...pdf.verdict, ...docx.verdict, ...htmlResult.verdict];
  const header =
    `${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpuModel()} · ${await versions()} · ` +
    `corpus: ${env.pdf?.length ?? 0} PDFs (${sum((env.pdf ?? []).map((d) => d.pages))} pages), ${env.docx?.length ?? 0} DOCX, ${htmlPages.length} HTML pages` +
    ` · load average ${fmt(env.load, 1)} at start, ${fmt(loadavg()[0], 1)} at end${options.quick ? ' · --quick' : ''}`;
  const markdown = [
    '## Document conversion: Fathom converters vs the usual tools',
    '',
    header,
    '',
    '| target (files issue) | status |',
    '|---|---|',
    ...verdicts.map((v) => `| ${v.target} | ${v.status} |`),
    '',
    pdf.markdown,
    docx.markdown,
    htmlResult.markdown,
  ].join('\n');
  mkdirSync(resultsDir, { recursive: true });
  const partial = options.only.length < 3 ? `-${options.only.join('-')}` : '';
  const file = join(resultsDir, `files${partial}${options.quick ? '-quick' : ''}.md`);
  writeFileSync(file, markdown);
  process.stdout.write(markdown);
  note(`wrote ${file}`);
}

main().then(
  () => {
    cleanUp();
    process.exit(0);
  },
  (error) => {
    note(`failed: ${error?.stack ?? error}`);
    cleanUp();
    process.exit(1);
  },
);
