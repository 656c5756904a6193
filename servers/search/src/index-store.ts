import { mkdirSync } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FathomError, StatementCache, errorMessage, openSqlite, prepare, transaction } from '@fathom/core';
import type { DatabaseSync, Peer, Statement } from '@fathom/core';
import { isStopWord } from './bm25.js';
import type { SearchRequest, SearchResult } from './types.js';
import { normalizeUrl, resultId } from './urls.js';

export interface PageInput {
  url: string;
  title: string;
  markdown: string;
  /** ISO 8601; default now. */
  fetchedAt?: string;
  source: 'web' | 'folder';
  /** For a web page: the address each hop of its fetch connected to (`HttpResponse.peers`). */
  peers?: readonly Peer[];
}

export interface StoredPage {
  url: string;
  title: string;
  markdown: string;
  fetchedAt: string;
  source: 'web' | 'folder';
  /** What was stored with a web page: its peers, or null (stored before they were recorded). */
  peers: unknown;
}

export interface IndexOptions {
  /**
   * Whether a search may list a web page fetched from these peers (as stored: see `StoredPage.peers`);
   * a server passes its address guard, so that it lists only pages it could have fetched. Folder
   * documents are the operator's and always listed. Default: every page.
   */
  lists?: (peers: unknown) => boolean;
}

export interface IndexFolderOptions {
  /** Most documents considered in one walk. Default 5,000. */
  maxFiles?: number;
  /** Larger files are skipped. Default 50 MB. */
  maxBytes?: number;
}

export interface FolderCounts {
  /** Documents of a readable type found. */
  files: number;
  indexed: number;
  /** Already indexed with the same modification time and size. */
  unchanged: number;
  /** Files of other types, too large, or symbolic links leading outside the folder. */
  skipped: number;
  failed: number;
  /** Pages of files that are no longer there. */
  removed: number;
  /** The walk stopped at maxFiles. */
  truncated: boolean;
  /** The first few failures. */
  failures: Array<{ path: string; error: string }>;
}

/** How far a pass over the folders has got. */
export interface FolderProgress {
  /** Documents found so far. */
  files: number;
  /** Documents read (indexed, unchanged or failed). */
  done: number;
  /** Still listing folders: more documents may be found. */
  listing: boolean;
}

/** What a pass did with one folder: its counts, or why it could not be read. */
export interface FolderOutcome {
  folder: string;
  counts?: FolderCounts;
  error?: unknown;
}

/** A pass over the operator's folders running in the background (`LocalIndex.indexFolders`). */
export class FolderPass {
  private running = true;
  /** The outcome of each folder; never rejects. */
  readonly finished: Promise<FolderOutcome[]>;

  constructor(
    private readonly progress: Readonly<FolderProgress>,
    /** Must not reject: a folder's failure is its outcome. */
    run: Promise<FolderOutcome[]>,
    private readonly stopper: AbortController,
  ) {
    this.finished = run.finally(() => {
      this.running = false;
    });
  }

  /** True as soon as the pass has ended; false when it is still running after `ms` or the signal aborts first. */
  async settled(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.running) return true;
    if (signal?.aborted) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let abort: (() => void) | undefined;
    const bound = new Promise<false>((resolve) => {
      abort = () => resolve(false);
      timer = setTimeout(abort, ms);
      signal?.addEventListener('abort', abort, { once: true });
    });
    try {
      return await Promise.race([this.finished.then(() => true as const), bound]);
    } finally {
      clearTimeout(timer);
      if (abort) signal?.removeEventListener('abort', abort);
    }
  }

  /** While the pass runs: what a search answered from the index should say about it. */
  note(): string | undefined {
    if (!this.running) return undefined;
    const { files, done, listing } = this.progress;
    const count = (n: number) => n.toLocaleString('en-US');
    const progress = listing
      ? `the local folders are still being listed (${count(files)} file${files === 1 ? '' : 's'} found so far)`
      : `${count(done)} of ${count(files)} files indexed so far`;
    return `indexing: ${progress}; results may be incomplete, ask again shortly`;
  }

  /** Stops the pass after the document it is reading, and waits for that. */
  async stop(): Promise<void> {
    this.stopper.abort();
    await this.finished;
  }
}

interface FolderListing {
  folder: string;
  root: string;
  files: Array<{ path: string; url: string; info: FileInfo }>;
  /** Files of other types, too large, or links leading outside the folder. */
  skipped: number;
  /** Stopped at maxFiles. */
  truncated: boolean;
  /** The pass was stopped during the walk: files may be missing. */
  stopped: boolean;
}

/** Text indexed per page; the stored markdown is kept whole. */
export const MAX_INDEXED_CHARS = 2 * 1024 * 1024;
const SNIPPET_TOKENS = 30;
const MAX_FAILURES_LISTED = 20;
/** Title matches weigh this much more than body matches. */
const TITLE_WEIGHT = 4;

/** Documents a folder walk converts; everything else (images, audio, archives, binaries) is skipped. */
const DOCUMENT_EXTENSIONS = new Set([
  'md', 'markdown', 'mdx', 'txt', 'text', 'rst', 'org', 'tex', 'bib', 'log',
  'html', 'htm', 'xhtml', 'pdf', 'docx', 'pptx', 'xlsx', 'xls', 'ods', 'csv', 'tsv', 'epub', 'ipynb',
  'json', 'jsonl', 'ndjson', 'yaml', 'yml', 'xml', 'rss', 'atom', 'eml',
]);
const SKIPPED_FOLDERS = new Set(['node_modules', '__pycache__']);

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pages (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  title TEXT NOT NULL,
  markdown TEXT NOT NULL,
  source TEXT NOT NULL,
  host TEXT,
  fetched_at TEXT NOT NULL,
  file_mtime_ms REAL,
  file_size INTEGER
);
CREATE INDEX IF NOT EXISTS pages_host ON pages (host);
CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(title, body, tokenize = 'porter unicode61 remove_diacritics 2');
`;

const UNSPACED_SCRIPT = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}';
/** Characters of scripts written without spaces: indexed one per token, searched as phrases. */
const UNSPACED_CHAR = new RegExp(`[${UNSPACED_SCRIPT}]`, 'gu');
const UNSPACED_RUN = new RegExp(`^[${UNSPACED_SCRIPT}]+$`, 'u');
const SPACED_UNSPACED = new RegExp(` ?([${UNSPACED_SCRIPT}]) ?`, 'gu');
const WORD = new RegExp(`[${UNSPACED_SCRIPT}]+|[\\p{L}\\p{M}\\p{N}]+`, 'gu');

interface PageRow {
  id: number;
  url: string;
  title: string;
  markdown: string;
  source: 'web' | 'folder';
  fetched_at: string;
  file_mtime_ms: number | null;
  file_size: number | null;
  peers: string | null;
}

interface HitRow {
  url: string;
  title: string;
  source: 'web' | 'folder';
  fetched_at: string;
  file_mtime_ms: number | null;
  snippet: string;
}

interface FileInfo {
  mtimeMs: number;
  size: number;
}

/** A full-text index of fetched pages and local documents (SQLite FTS5). */
export class LocalIndex {
  private readonly db: DatabaseSync;
  private readonly statements: StatementCache;

  private constructor(db: DatabaseSync) {
    this.db = db;
    this.statements = new StatementCache(db);
  }

  /** A file path (parent folders are created) or ':memory:'. */
  static open(path: string, options: IndexOptions = {}): LocalIndex {
    try {
      if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
      const db = openSqlite(path, { timeoutMs: 5000 });
      try {
        migrate(db);
        const lists = options.lists ?? (() => true);
        db.function('listed', { deterministic: true }, (peers) => (lists(parsePeers(peers)) ? 1 : 0));
      } catch (error) {
        db.close();
        throw error;
      }
      return new LocalIndex(db);
    } catch (cause) {
      throw new FathomError('unavailable', `Cannot open the local search index at ${path}: ${errorMessage(cause)}`, {
        hint: 'Check that the folder is writable, or set a different index path (FATHOM_INDEX_PATH).',
        cause,
      });
    }
  }

  /** Adds a page, or replaces the page stored under the same URL. */
  addPage(page: PageInput): void {
    this.store(page);
  }

  get(url: string): StoredPage | undefined {
    const row = this.sql<[string], PageRow>('SELECT * FROM pages WHERE key = ?').get(keyOf(url));
    return row && { url: row.url, title: row.title, markdown: row.markdown, fetchedAt: row.fetched_at, source: row.source, peers: parsePeers(row.peers) };
  }

  count(): number {
    return this.sql<[], { n: number }>('SELECT count(*) AS n FROM pages').get()?.n ?? 0;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  /**
   * Best matches first. Every word is a literal term (quoted phrases must match as phrases),
   * pages holding all the words rank above pages holding some; paging by `num` and `page`.
   * Domain filters apply to web pages: with includeDomains, local documents are left out. Web
   * pages are listed only where the index's `lists` option allows their peers.
   */
  search(request: SearchRequest): SearchResult[] {
    const query = buildQuery(request.query);
    if (!query) return [];
    const num = Math.max(1, Math.floor(request.num));
    const offset = (Math.max(1, Math.floor(request.page)) - 1) * num;
    const filters = ["(p.source = 'folder' OR listed(p.peers))"];
    const params: unknown[] = [query.any];
    const include = request.includeDomains.map(cleanDomain).filter(Boolean);
    const exclude = request.excludeDomains.map(cleanDomain).filter(Boolean);
    if (include.length) {
      filters.push(`p.host IS NOT NULL AND (${include.map(() => HOST_MATCH).join(' OR ')})`);
      for (const domain of include) params.push(domain, `%.${escapeLike(domain)}`);
    }
    if (exclude.length) {
      filters.push(`(p.host IS NULL OR NOT (${exclude.map(() => HOST_MATCH).join(' OR ')}))`);
      for (const domain of exclude) params.push(domain, `%.${escapeLike(domain)}`);
    }
    const preferAll = query.all ? 'pages_fts.rowid IN (SELECT rowid FROM pages_fts WHERE pages_fts MATCH ?) DESC, ' : '';
    if (query.all) params.push(query.all);
    params.push(num, offset);
    const rows = this
      .sql<unknown[], HitRow>(
        `SELECT p.url, p.title, p.source, p.fetched_at, p.file_mtime_ms,
                snippet(pages_fts, 1, '', '', '…', ${SNIPPET_TOKENS}) AS snippet
         FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid
         WHERE pages_fts MATCH ?${filters.map((filter) => ` AND ${filter}`).join('')}
         ORDER BY ${preferAll}bm25(pages_fts, ${TITLE_WEIGHT}, 1) ASC, p.id ASC
         LIMIT ? OFFSET ?`,
      )
      .all(...params);
    return rows.map((row, i) => toResult(row, offset + i + 1));
  }

  /**
   * Converts and indexes the documents under `folder` (links are followed only when they stay
   * inside it). Files indexed before with the same modification time and size are not read again;
   * pages of files gone since are removed.
   */
  async indexFolder(folder: string, options: IndexFolderOptions = {}): Promise<FolderCounts> {
    return this.indexListed(await this.listFolder(folder, options));
  }

  /**
   * Starts a pass over the operator's folders in the background: every folder is listed first,
   * so that the pass knows how many documents it has to read, then each document is read.
   */
  indexFolders(folders: readonly string[], options: IndexFolderOptions = {}): FolderPass {
    const progress: FolderProgress = { files: 0, done: 0, listing: true };
    const stopper = new AbortController();
    const signal = stopper.signal;
    const run = async (): Promise<FolderOutcome[]> => {
      const outcomes: FolderOutcome[] = [];
      const listings: FolderListing[] = [];
      for (const folder of folders) {
        if (signal.aborted) break;
        try {
          listings.push(await this.listFolder(folder, options, progress, signal));
        } catch (error) {
          outcomes.push({ folder, error });
        }
      }
      progress.listing = false;
      for (const listing of listings) {
        if (signal.aborted) break;
        try {
          outcomes.push({ folder: listing.folder, counts: await this.indexListed(listing, progress, signal) });
        } catch (error) {
          outcomes.push({ folder: listing.folder, error });
        }
      }
      return outcomes;
    };
    return new FolderPass(progress, run(), stopper);
  }

  /** The documents under a folder, found without reading them (counted into `progress.files`). */
  private async listFolder(folder: string, options: IndexFolderOptions, progress?: FolderProgress, signal?: AbortSignal): Promise<FolderListing> {
    const maxFiles = options.maxFiles ?? 5000;
    const maxBytes = options.maxBytes ?? 50 * 1024 * 1024;
    const root = await realFolder(folder);
    const listing: FolderListing = { folder, root, files: [], skipped: 0, truncated: false, stopped: false };
    const seen = new Set<string>();
    const pending = [root];
    const visited = new Set([root]);
    walk: while (pending.length) {
      const dir = pending.pop()!;
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        if (signal?.aborted) {
          listing.stopped = true;
          return listing;
        }
        if (entry.name.startsWith('.') || SKIPPED_FOLDERS.has(entry.name)) continue;
        let path = join(dir, entry.name);
        if (entry.isSymbolicLink()) {
          const target = await realpath(path).catch(() => undefined);
          if (!target || !inside(root, target)) {
            listing.skipped++;
            continue;
          }
          path = target;
        } else if (!entry.isDirectory() && !entry.isFile()) {
          continue;
        }
        const info = await stat(path).catch(() => undefined);
        if (!info) continue;
        if (info.isDirectory()) {
          if (!visited.has(path)) pending.push(path);
          visited.add(path);
          continue;
        }
        if (!info.isFile()) continue;
        if (!DOCUMENT_EXTENSIONS.has(extname(path).slice(1).toLowerCase()) || info.size > maxBytes) {
          listing.skipped++;
          continue;
        }
        const url = pathToFileURL(path).href;
        if (seen.has(url)) continue;
        if (listing.files.length >= maxFiles) {
          listing.truncated = true;
          break walk;
        }
        seen.add(url);
        listing.files.push({ path, url, info: { mtimeMs: info.mtimeMs, size: info.size } });
        if (progress) progress.files++;
      }
    }
    return listing;
  }

  /** Reads and indexes the documents of a listing (counted into `progress.done`), then drops pages of files gone. */
  private async indexListed(listing: FolderListing, progress?: FolderProgress, signal?: AbortSignal): Promise<FolderCounts> {
    const { root } = listing;
    const counts: FolderCounts = {
      files: listing.files.length, indexed: 0, unchanged: 0, skipped: listing.skipped, failed: 0, removed: 0, truncated: listing.truncated, failures: [],
    };
    const { convert, renderMarkdown } = await import('@fathom/files/convert');
    for (const { path, url, info } of listing.files) {
      if (signal?.aborted) return counts;
      const stored = this.sql<[string], PageRow>('SELECT file_mtime_ms, file_size FROM pages WHERE key = ?').get(url);
      if (stored?.file_mtime_ms === info.mtimeMs && stored.file_size === info.size) {
        counts.unchanged++;
      } else {
        try {
          const document = await convert({ bytes: await readFile(path), name: path });
          const markdown = renderMarkdown(document);
          const title = document.info.title?.trim() || /^#{1,6} +(.+)$/m.exec(markdown)?.[1]?.trim() || relative(root, path);
          this.store({ url, title, markdown, source: 'folder' }, info);
          counts.indexed++;
        } catch (error) {
          counts.failed++;
          if (counts.failures.length < MAX_FAILURES_LISTED) counts.failures.push({ path, error: errorMessage(error) });
        }
      }
      if (progress) progress.done++;
    }
    if (!listing.stopped && !listing.truncated) counts.removed = this.removeMissing(root, new Set(listing.files.map((file) => file.url)));
    return counts;
  }

  private removeMissing(root: string, seen: ReadonlySet<string>): number {
    const prefix = pathToFileURL(root.endsWith(sep) ? root : root + sep).href;
    const rows = this.sql<[{ prefix: string }], { id: number; key: string }>(
      "SELECT id, key FROM pages WHERE source = 'folder' AND substr(key, 1, length(@prefix)) = @prefix",
    ).all({ prefix });
    const gone = rows.filter((row) => !seen.has(row.key));
    transaction(this.db, () => {
      for (const row of gone) {
        this.sql('DELETE FROM pages WHERE id = ?').run(row.id);
        this.sql('DELETE FROM pages_fts WHERE rowid = ?').run(row.id);
      }
    });
    return gone.length;
  }

  private store(page: PageInput, file?: FileInfo): void {
    const key = keyOf(page.url);
    const host = page.source === 'web' ? hostOf(page.url) : null;
    const title = page.title.trim() || page.url;
    const fetchedAt = page.fetchedAt ?? new Date().toISOString();
    const body = indexedText(page.markdown.slice(0, MAX_INDEXED_CHARS));
    const peers = page.source === 'web' && page.peers ? JSON.stringify(page.peers) : null;
    transaction(
      this.db,
      () => {
        const { id } = this.sql<unknown[], { id: number }>(
          `INSERT INTO pages (key, url, title, markdown, source, host, fetched_at, file_mtime_ms, file_size, peers)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET url = excluded.url, title = excluded.title, markdown = excluded.markdown,
             source = excluded.source, host = excluded.host, fetched_at = excluded.fetched_at,
             file_mtime_ms = excluded.file_mtime_ms, file_size = excluded.file_size, peers = excluded.peers
           RETURNING id`,
        ).get(key, page.url, title, page.markdown, page.source, host, fetchedAt, file?.mtimeMs ?? null, file?.size ?? null, peers)!;
        this.sql('DELETE FROM pages_fts WHERE rowid = ?').run(id);
        this.sql('INSERT INTO pages_fts (rowid, title, body) VALUES (?, ?, ?)').run(id, spaceUnspaced(title), body);
      },
      { immediate: true },
    );
  }

  private sql<P extends unknown[] = unknown[], R = unknown>(text: string): Statement<P, R> {
    return this.statements.sql<P, R>(text);
  }
}

const HOST_MATCH = "(p.host = ? OR p.host LIKE ? ESCAPE '\\')";

/**
 * The tables, and the peers column an index made before it existed lacks, in one write
 * transaction (two servers may open the same old file at once).
 */
function migrate(db: DatabaseSync): void {
  transaction(
    db,
    () => {
      db.exec(SCHEMA);
      const columns = prepare<[], { name: string }>(db, 'PRAGMA table_info(pages)').all();
      if (!columns.some((column) => column.name === 'peers')) db.exec('ALTER TABLE pages ADD COLUMN peers TEXT');
    },
    { immediate: true },
  );
}

/** The stored peers column: the JSON it holds, or null when there is none or it is not JSON. */
function parsePeers(stored: unknown): unknown {
  if (typeof stored !== 'string') return null;
  try {
    return JSON.parse(stored) as unknown;
  } catch {
    return null;
  }
}

function toResult(row: HitRow, rank: number): SearchResult {
  const result: SearchResult = { id: resultId(row.url), title: row.title, url: row.url, snippet: cleanSnippet(row.snippet), provider: 'local', rank };
  if (row.source === 'web') {
    result.published = row.fetched_at;
  } else {
    const extra: Record<string, unknown> = { source: 'folder' };
    if (row.file_mtime_ms !== null) extra.modified = new Date(row.file_mtime_ms).toISOString();
    result.extra = extra;
  }
  return result;
}

interface FtsQuery {
  /** Matches pages holding every phrase and at least one word. */
  any: string;
  /** Matches pages holding everything; set when there is more than one word. */
  all?: string;
}

/** A term as FTS5 reads it literally: a quoted phrase of tokens. */
function quoted(tokens: readonly string[]): string {
  return `"${tokens.join(' ')}"`;
}

/** The tokens of one word: itself, or each character of a run in a script written without spaces. */
function tokensOf(word: string): string[] {
  return UNSPACED_RUN.test(word) ? Array.from(word) : [word];
}

/**
 * The FTS5 expression for what a user typed. Only letters and digits reach it, each quoted, so
 * no input can form FTS5 syntax; text in balanced double quotes is a phrase that must match.
 */
export function buildQuery(input: string): FtsQuery | undefined {
  const phrases: string[][] = [];
  const rest = input.replace(/"([^"]*)"/g, (_, inner: string) => {
    const tokens = wordsOf(inner).flatMap(tokensOf);
    if (tokens.length) phrases.push(tokens);
    return ' ';
  });
  // Words joined by these marks ("covid-19", "U.S.", "o'brien", "arxiv.org") stay together, as a phrase.
  const groups = rest
    .split(/[^\p{L}\p{M}\p{N}\-'’._/]+/u)
    .map(wordsOf)
    .filter((group) => group.length > 0);
  const meaningful = groups.filter((group) => !group.every((word) => isStopWord(word)));
  // A query of stop words alone ("to be or not to be") is searched as one phrase.
  const chosen = meaningful.length || phrases.length || !groups.length ? meaningful : [groups.flat()];
  const terms = [...new Set(chosen.map((group) => quoted(group.flatMap(tokensOf))))];
  if (terms.length === 0 && phrases.length === 0) return undefined;
  const required = phrases.map(quoted);
  const anyTerm = terms.length > 1 ? `(${terms.join(' OR ')})` : terms[0];
  const any = [...required, ...(anyTerm ? [anyTerm] : [])].join(' AND ');
  return terms.length > 1 ? { any, all: [...required, ...terms].join(' AND ') } : { any };
}

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

/** Plain text for the index: markup dropped, link targets left out, unspaced scripts one character per token. */
function indexedText(markdown: string): string {
  const text = markdown
    .replace(/!\[([^\]\n]{0,500})\]\([^)\n]{0,2000}\)/g, '$1')
    .replace(/\[([^\]\n]{0,500})\]\((?:[^()\n]|\([^)\n]{0,200}\)){0,2000}\)/g, '$1')
    .replace(/\[([^\]\n]{0,500})\]\[[^\]\n]{0,200}\]/g, '$1')
    .replace(/<\/?[a-z][^<>\n]{0,500}>/gi, ' ')
    .replace(/^ {0,3}(?:#{1,6}|>|[-*+]|\d{1,9}[.)])[ \t]+/gm, '')
    .replace(/^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*(?::?-{3,}:?)?[ \t]*\|?[ \t]*$/gm, '')
    .replace(/[*_`~|]+/g, ' ')
    .replace(/[ \t]+/g, ' ');
  return spaceUnspaced(text);
}

function spaceUnspaced(text: string): string {
  return text.replace(UNSPACED_CHAR, ' $& ');
}

function cleanSnippet(snippet: string): string {
  return snippet.replace(SPACED_UNSPACED, '$1').replace(/\s+/g, ' ').trim();
}

function keyOf(url: string): string {
  return /^https?:/i.test(url) ? normalizeUrl(url) : url;
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname.toLowerCase() || null;
  } catch {
    return null;
  }
}

/** "https://www.Example.com/x", "*.example.com" or ".example.com" to "www.example.com" / "example.com". */
function cleanDomain(domain: string): string {
  const trimmed = domain.trim().toLowerCase();
  const host = /^[a-z][a-z0-9+.-]*:\/\//.test(trimmed) ? (hostOf(trimmed) ?? '') : trimmed.split('/')[0]!;
  return host.replace(/^\*?\./, '').replace(/\.$/, '');
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&');
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

async function realFolder(folder: string): Promise<string> {
  let root: string;
  try {
    root = await realpath(resolve(folder));
  } catch (cause) {
    throw new FathomError('not_found', `The folder ${folder} does not exist`, { hint: 'Check the local folders setting (FATHOM_LOCAL_FOLDERS).', cause });
  }
  if (!(await stat(root)).isDirectory()) {
    throw new FathomError('invalid_argument', `${folder} is not a folder`, { hint: 'Give folders, not files, to index.' });
  }
  return root;
}
