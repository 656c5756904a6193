// The documents bench/files/run.mjs converts: the real ones installed on this machine (PDFs under
// /usr/share, HTML documentation of the Rust toolchain and of the packages under /usr/share/doc),
// and DOCX files pandoc makes from some of those pages.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import JSZip from 'jszip';
import { note, run } from './harness.mjs';

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

/** The named PDFs, plus every other multi-page PDF under /usr/share (gzipped ones unpacked into workDir). */
export async function pdfCorpus(workDir) {
  const documents = [];
  for (const path of PDF_NAMED) if (!existsSync(path)) note(`skipping ${path}: not on this machine`);
  const found = walk('/usr/share', (path) => /\.pdf(\.gz)?$/i.test(path));
  const candidates = [...new Set([...PDF_NAMED.filter((path) => existsSync(path)), ...found])];
  for (const source of candidates) {
    let path = source;
    if (source.endsWith('.gz')) {
      path = join(workDir, 'pdf', basename(source, '.gz'));
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

export function htmlCorpus(total) {
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

/** DOCX files made by pandoc (in workDir) from HTML pages of the corpus: two thirds from pages with tables. */
export async function docxCorpus(htmlPages, n, workDir) {
  const withTables = htmlPages.filter((page) => /<table[\s>]/i.test(readFileSync(page.path, 'utf8')));
  const others = htmlPages.filter((page) => !withTables.includes(page));
  const tabled = spread(withTables, Math.max(n - others.length, Math.ceil((n * 2) / 3)));
  const chosen = [...tabled, ...spread(others, n - tabled.length)].sort((a, b) => (a.path < b.path ? -1 : 1));
  const documents = [];
  mkdirSync(join(workDir, 'docx'), { recursive: true });
  for (const [index, page] of chosen.entries()) {
    const html = join(workDir, 'docx', `${index}.html`);
    const docx = join(workDir, 'docx', `${index}.docx`);
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
