import { STATUS_CODES } from 'node:http';
import { FathomError, HttpClient, isFathomError } from '@fathom/core';
import type { Cache, CacheHit, CacheKey, CacheMeta, Logger, Peer } from '@fathom/core';
import { decodeText, detectType, renderMarkdown } from '@fathom/files/convert';
import type { ConvertedDocument, DocumentType, HtmlResult } from '@fathom/files/convert';
import type { WorkerPool } from '@fathom/files/pool';
import type { Config } from './config.js';
import { ALLOW_ALL, MAX_ROBOTS_BYTES, isAllowed, parseRobots } from './robots.js';
import type { Robots } from './robots.js';

export interface FetchedPage {
  /** The requested URL, normalized, without its fragment. */
  url: string;
  /** Where the page was found, after redirects. */
  finalUrl: string;
  canonicalUrl?: string;
  title?: string;
  published?: string;
  contentType: string;
  /** The converter's document type: html, pdf, docx, text… ('markdown' when Jina Reader answered). */
  type: string;
  markdown: string;
  /** The decoded HTML, for HTML pages fetched directly. */
  html?: string;
  /** The character encoding the HTML was decoded from. */
  encoding?: string;
  via: 'direct' | 'jina';
  fromCache: boolean;
  /** Where the content came from: each hop's address, or (through Jina) the target's as checked; none when unknown. */
  peers: Peer[];
}

export interface FetchOptions {
  /** The article only (default), or the whole page. */
  mainContent?: boolean;
  /** Extra request headers; Host cannot be set. A page fetched with headers bypasses Jina Reader. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PageFetcherOptions {
  config: Config;
  /** The guarded client, from httpClientFor(config, logger). */
  http: HttpClient;
  cache: Cache;
  logger: Logger;
  /** Converters run here, in worker threads: a hostile document stops its worker, not the server. */
  pool: WorkerPool;
}

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const ROBOTS_TIMEOUT_MS = 10_000;
const MAX_REMEMBERED_ORIGINS = 1000;
const ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.7';
const PROTECTED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade']);
const HTML_MIMES = new Set(['text/html', 'application/xhtml+xml']);
/** Types that are text in some syntax, so bytes that do not look like text cannot be one of them. */
const TEXT_TYPES = new Set<DocumentType>(['text', 'markdown', 'code', 'json', 'jsonl', 'yaml', 'xml', 'csv', 'tsv', 'html', 'feed', 'ipynb', 'eml']);
const NOT_DOCUMENTS: Partial<Record<DocumentType, string>> = { image: 'an image', audio: 'audio', zip: 'a ZIP archive' };
const FILES_HINT = "Read it with the files server's read_document tool, which takes a URL.";

interface RememberedRobots {
  robots: Promise<Robots>;
  expiresAt: number;
}

/** Web pages as markdown: robots.txt, the shared download cache, direct fetch or Jina Reader. */
export class PageFetcher {
  private readonly config: Config;
  private readonly http: HttpClient;
  private readonly cache: Cache;
  private readonly logger: Logger;
  private readonly jina: HttpClient | undefined;
  private readonly robotsByOrigin = new Map<string, RememberedRobots>();
  private readonly pool: WorkerPool;

  constructor(options: PageFetcherOptions) {
    this.pool = options.pool;
    this.config = options.config;
    this.http = options.http;
    this.cache = options.cache;
    this.logger = options.logger;
    // The operator chose the Jina endpoint, so it may be a local instance.
    this.jina = this.config.jinaApiKey
      ? new HttpClient({ allowPrivateNetwork: true, logger: this.logger, retries: 0, maxBytes: this.config.maxPageBytes, timeoutMs: this.timeoutMs })
      : undefined;
  }

  private get timeoutMs(): number {
    return this.config.fetchTimeoutSeconds * 1000;
  }

  async fetch(url: string, options: FetchOptions = {}): Promise<FetchedPage> {
    const target = parseTarget(url);
    const jina = Object.keys(options.headers ?? {}).length === 0 ? this.jina : undefined;
    // Jina fetches the target itself, so our guard never sees that connection: refuse first what it would refuse.
    const checked = jina ? await this.http.checkReachable(target.href) : [];
    if (this.config.robots) await this.checkRobots(target, options.signal);
    if (jina) {
      try {
        return await this.viaJina(jina, target, checked, options.signal);
      } catch (error) {
        if (options.signal?.aborted) throw error;
        this.logger.warn('Jina Reader failed; fetching the page directly', { url: target.href, error });
      }
    }
    return this.direct(target, options);
  }

  async close(): Promise<void> {
    await this.jina?.close();
  }

  private async direct(target: URL, options: FetchOptions): Promise<FetchedPage> {
    const headers = this.pageHeaders(options.headers);
    const key: CacheKey = options.headers && Object.keys(options.headers).length > 0 ? { url: target.href, headers } : { url: target.href };
    const hit = await this.withDeadline(target.href, options.signal, (signal) =>
      this.http.cached(
        this.cache,
        'fetch',
        key,
        async () => {
          const response = await this.http.request(target.href, { headers, timeoutMs: this.timeoutMs, maxBytes: this.config.maxPageBytes, signal });
          if (response.status < 200 || response.status >= 300) throw statusError(target.href, response.status);
          this.logger.debug('fetched', { url: target.href, finalUrl: response.url, status: response.status, bytes: response.body.length });
          return { response, meta: { finalUrl: response.url, contentType: response.contentType ?? '', status: response.status } };
        },
        { ttlMs: this.config.pageTtlHours * HOUR_MS },
      ),
    );
    const finalUrl = String(hit.meta.finalUrl || target.href);
    // A redirect may lead where robots.txt says no: the page is not handed on then.
    if (this.config.robots && finalUrl !== target.href) await this.checkRobots(new URL(finalUrl), options.signal);
    return this.toPage(target.href, hit, options.mainContent ?? true);
  }

  private async toPage(url: string, hit: CacheHit, mainContent: boolean): Promise<FetchedPage> {
    const finalUrl = String(hit.meta.finalUrl || url);
    const contentType = String(hit.meta.contentType ?? '');
    const bytes = hit.body;
    const name = decodeURIComponentSafe(new URL(finalUrl).pathname.split('/').pop() || 'index');
    const type = await documentType(bytes, name, contentType);
    refuseNonDocument(finalUrl, type, contentType, bytes);
    const base = { url, finalUrl, via: 'direct' as const, fromCache: hit.fromCache, peers: storedPeers(hit.meta) };
    if (type === 'html') return { ...base, ...(await this.htmlPage(bytes, contentType, finalUrl, mainContent)) };
    const input = { bytes, name, ...(contentType ? { mimeType: contentType } : {}), url: finalUrl };
    const document = await this.pool.run<ConvertedDocument>({ kind: 'convert', input, options: { mainContent } }, this.timeoutMs, finalUrl);
    const { title, created } = document.info;
    return {
      ...base,
      ...(title ? { title } : {}),
      ...(created ? { published: created } : {}),
      contentType: contentType || document.info.mimeType,
      type: document.info.type,
      markdown: renderMarkdown(document),
    };
  }

  private async htmlPage(bytes: Buffer, contentType: string, finalUrl: string, mainContent: boolean) {
    const declared = charsetParameter(contentType) ?? metaCharset(bytes);
    const { text, encoding } = decodeText(bytes, declared);
    const result = await this.pool.run<HtmlResult>({ kind: 'html', html: text, options: { url: finalUrl, mainContent } }, this.timeoutMs, finalUrl);
    const canonicalUrl = canonicalOf(text, finalUrl);
    return {
      ...(canonicalUrl ? { canonicalUrl } : {}),
      ...(result.title ? { title: result.title } : {}),
      ...(result.published ? { published: result.published } : {}),
      contentType: contentType || 'text/html',
      type: 'html',
      markdown: result.markdown,
      html: text,
      encoding,
    };
  }

  private pageHeaders(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': this.config.userAgent, accept: ACCEPT, 'accept-language': 'en-US,en;q=0.9' };
    for (const [name, value] of Object.entries(extra)) {
      const lower = name.toLowerCase();
      if (!PROTECTED_HEADERS.has(lower)) headers[lower] = value;
    }
    return headers;
  }

  /** Runs `run` under the page time limit (all attempts and redirects together) and the caller's signal. */
  private async withDeadline<T>(shown: string, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    try {
      return await run(signal ? AbortSignal.any([signal, deadline]) : deadline);
    } catch (error) {
      if (isFathomError(error, 'too_large')) {
        throw new FathomError('too_large', error.message, {
          hint: 'Use a different source, or ask the operator to raise the limit with --max-page-bytes (FATHOM_MAX_PAGE_BYTES).',
          details: error.details,
          cause: error,
        });
      }
      if (deadline.aborted && !signal?.aborted && isFathomError(error, 'cancelled')) {
        throw new FathomError('timeout', `Timed out after ${this.config.fetchTimeoutSeconds} s fetching ${shown}`, {
          hint: 'The site is slow or not answering. Try again later or use a different source.',
          cause: error,
        });
      }
      throw error;
    }
  }

  private async checkRobots(target: URL, signal: AbortSignal | undefined): Promise<void> {
    const robots = await this.robotsFor(target.origin, signal);
    if (isAllowed(robots, target.pathname + target.search)) return;
    throw new FathomError('forbidden', `${target.href} is disallowed by robots.txt`, {
      hint: 'The operator can turn this off with --robots false (FATHOM_ROBOTS=false).',
    });
  }

  /** One robots.txt per origin, remembered in memory besides the cache (which off mode bypasses). */
  private robotsFor(origin: string, signal: AbortSignal | undefined): Promise<Robots> {
    const now = Date.now();
    const known = this.robotsByOrigin.get(origin);
    if (known && known.expiresAt > now) return known.robots;
    const entry: RememberedRobots = {
      expiresAt: now + DAY_MS,
      robots: this.loadRobots(origin, signal).then(
        ({ robots, failed }) => {
          if (failed) entry.expiresAt = Date.now() + HOUR_MS;
          return robots;
        },
        (error: unknown) => {
          this.robotsByOrigin.delete(origin);
          throw error;
        },
      ),
    };
    this.robotsByOrigin.delete(origin);
    this.robotsByOrigin.set(origin, entry);
    if (this.robotsByOrigin.size > MAX_REMEMBERED_ORIGINS) this.robotsByOrigin.delete(this.robotsByOrigin.keys().next().value!);
    return entry.robots;
  }

  private async loadRobots(origin: string, signal: AbortSignal | undefined): Promise<{ robots: Robots; failed: boolean }> {
    // Rules are read, as pages are (HttpClient.cached), only from addresses this client may reach:
    // else a stricter server sharing the cache would learn a private robots.txt path by path.
    const usable = (stored: CacheHit) => stored.body.length === 0 || this.http.refusedPeer(stored.meta.peers) === undefined;
    try {
      const hit = await this.cache.getOrSet('robots', { origin }, () => this.downloadRobots(origin, signal), { ttlMs: DAY_MS, usable });
      if (!usable(hit)) return { robots: ALLOW_ALL, failed: true };
      return { robots: parseRobots(hit.text()), failed: hit.meta.failed === true };
    } catch (error) {
      if (signal?.aborted) throw error;
      // An address this client refuses (the page will meet the same refusal), or a replay that never recorded it.
      this.logger.debug('robots.txt unavailable; allowing all', { origin, error });
      return { robots: ALLOW_ALL, failed: true };
    }
  }

  /** The robots.txt text; a missing or failing one is stored as empty (everything allowed), failures briefly. */
  private async downloadRobots(origin: string, signal: AbortSignal | undefined) {
    const url = `${origin}/robots.txt`;
    try {
      const response = await this.http.request(url, {
        headers: { 'user-agent': this.config.userAgent, accept: 'text/plain,*/*;q=0.5' },
        timeoutMs: Math.min(this.timeoutMs, ROBOTS_TIMEOUT_MS),
        maxBytes: MAX_ROBOTS_BYTES,
        retries: 1,
        signal,
      });
      if (response.status >= 200 && response.status < 300) return { body: response.body, meta: { peers: response.peers } };
      this.logger.debug('no robots.txt', { url, status: response.status });
      return response.status >= 500 ? { body: '', meta: { failed: true }, ttlMs: HOUR_MS } : { body: '' };
    } catch (error) {
      // A refused address stores nothing: the entry another server keeps for it stays.
      if (signal?.aborted || isFathomError(error, 'blocked_address')) throw error;
      this.logger.debug('robots.txt failed; allowing all', { url, error });
      return { body: '', meta: { failed: true }, ttlMs: HOUR_MS };
    }
  }

  private async viaJina(jina: HttpClient, target: URL, peers: Peer[], signal: AbortSignal | undefined): Promise<FetchedPage> {
    const endpoint = `${this.config.jinaBaseUrl.replace(/\/+$/, '')}/${target.href}`;
    const hit = await this.withDeadline(target.href, signal, (deadline) =>
      this.cache.getOrSet(
        'jina',
        { url: target.href },
        async () => {
          const response = await jina.request(endpoint, {
            headers: {
              authorization: `Bearer ${this.config.jinaApiKey}`,
              'x-return-format': 'markdown',
              'x-timeout': String(Math.max(1, Math.floor(this.config.fetchTimeoutSeconds))),
            },
            signal: deadline,
          });
          if (response.status < 200 || response.status >= 300) {
            throw new FathomError('upstream', `Jina Reader answered HTTP ${response.status} for ${target.href}`, { details: { status: response.status } });
          }
          const answer = parseJinaReader(response.text(), response.contentType);
          if (answer.status !== undefined && answer.status >= 400) {
            throw new FathomError('upstream', `Jina Reader reports HTTP ${answer.status} from ${target.href}`, { details: { status: answer.status } });
          }
          if (!answer.markdown.trim()) throw new FathomError('upstream', `Jina Reader returned no content for ${target.href}`);
          return { body: response.body, meta: { contentType: response.contentType ?? '' } };
        },
        { ttlMs: this.config.pageTtlHours * HOUR_MS },
      ),
    );
    const reader = parseJinaReader(hit.text(), String(hit.meta.contentType ?? ''));
    const finalUrl = reader.url && /^https?:\/\//i.test(reader.url) ? reader.url : target.href;
    return {
      url: target.href,
      finalUrl,
      ...(reader.title ? { title: reader.title } : {}),
      ...(reader.published ? { published: reader.published } : {}),
      contentType: 'text/markdown',
      type: 'markdown',
      markdown: reader.markdown.trim(),
      via: 'jina',
      fromCache: hit.fromCache,
      peers,
    };
  }
}

/** The peers a cache entry was stored with; none (unknown) unless it holds a list of them. */
function storedPeers(meta: CacheMeta): Peer[] {
  const { peers } = meta;
  const valid = Array.isArray(peers) && peers.every((peer: Partial<Peer> | null) => typeof peer?.url === 'string' && typeof peer.address === 'string');
  return valid ? (peers as Peer[]) : [];
}

function parseTarget(url: string): URL {
  const trimmed = url.trim();
  let target: URL;
  try {
    target = new URL(trimmed);
  } catch (cause) {
    throw new FathomError('invalid_argument', `Not a valid URL: ${JSON.stringify(url)}`, {
      hint: 'Give an absolute URL that starts with http:// or https://.',
      cause,
    });
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new FathomError('invalid_argument', `Cannot fetch ${target.protocol} URLs: only http and https pages are fetched (${trimmed.slice(0, 100)})`, {
      hint: "Give an http:// or https:// URL. Local files and data: URIs are read with the files server's read_document tool.",
    });
  }
  target.hash = '';
  return target;
}

function statusError(url: string, status: number): FathomError {
  const reason = STATUS_CODES[status];
  const message = `${url} answered HTTP ${status}${reason ? ` ${reason}` : ''}`;
  const details = { status };
  if (status === 404 || status === 410) {
    return new FathomError('not_found', message, { hint: 'The page does not exist (any more). Check the address, or search for where it moved.', details });
  }
  if (status === 429) return new FathomError('rate_limited', message, { hint: 'The site limits requests: try again later or use a different source.', details });
  if (status === 401 || status === 403) {
    return new FathomError('upstream', message, { hint: 'The site refuses the request (a login or an anti-bot check). Use a different source.', details });
  }
  return new FathomError('upstream', message, { hint: 'The site failed to serve the page. Try again later or use a different source.', details });
}

/** The converter's type, except that a page served as HTML is HTML unless its bytes say another format. */
async function documentType(bytes: Uint8Array, name: string, contentType: string): Promise<DocumentType> {
  const detected = await detectType(bytes, name, contentType || undefined);
  const plain = detected === 'text' || detected === 'code' || detected === 'markdown' || detected === 'xml';
  return plain && HTML_MIMES.has(baseMime(contentType)) ? 'html' : detected;
}

function refuseNonDocument(url: string, type: DocumentType, contentType: string, bytes: Uint8Array): void {
  const described = NOT_DOCUMENTS[type] ?? (TEXT_TYPES.has(type) && looksBinary(bytes) ? 'binary data' : undefined);
  if (!described) return;
  const mime = baseMime(contentType);
  throw new FathomError('invalid_argument', `The page at ${url} is ${mime ? `${mime} (${described})` : described}, not a document`, {
    hint: FILES_HINT,
    details: { type, contentType },
  });
}

/** Text has no NUL bytes (except UTF-16, where they fall on one side of each pair) and few control characters. */
function looksBinary(bytes: Uint8Array): boolean {
  const sample = bytes.subarray(0, 4096);
  if ((sample[0] === 0xff && sample[1] === 0xfe) || (sample[0] === 0xfe && sample[1] === 0xff)) return false;
  let evenNuls = 0;
  let oddNuls = 0;
  let controls = 0;
  for (let i = 0; i < sample.length; i++) {
    const byte = sample[i]!;
    if (byte === 0) {
      if (i % 2 === 0) evenNuls++;
      else oddNuls++;
    } else if (byte < 0x09 || (byte > 0x0d && byte < 0x20 && byte !== 0x1b)) {
      controls++;
    }
  }
  const nuls = evenNuls + oddNuls;
  if (nuls > 0) return !(Math.min(evenNuls, oddNuls) === 0 && nuls >= sample.length / 8);
  return controls > sample.length * 0.05;
}


function baseMime(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

function charsetParameter(contentType: string): string | undefined {
  return /;\s*charset\s*=\s*"?([\w.:-]+)/i.exec(contentType)?.[1];
}

/** `<meta charset>` or `<meta http-equiv="Content-Type" content="…; charset=…">` near the top. */
function metaCharset(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 4096).toString('latin1');
  return /<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head)?.[1];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of tag.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/g)) {
    const value = (match[2] ?? match[3] ?? match[4] ?? '').replace(/&(amp|lt|gt|quot|apos|#\d+|#x[\da-f]+);/gi, (entity, name: string) => {
      if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(parseInt(name.slice(2), 16));
      if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
      return ENTITIES[name.toLowerCase()] ?? entity;
    });
    found.set(match[1]!.toLowerCase(), value);
  }
  return found;
}

/** The absolute http(s) URL of `<link rel="canonical">`, if the page names one. */
function canonicalOf(html: string, base: string): string | undefined {
  const headEnd = html.search(/<\/head\s*>|<body[\s>]/i);
  const head = headEnd === -1 ? html.slice(0, 256 * 1024) : html.slice(0, headEnd);
  for (const [tag] of head.matchAll(/<link\b[^>]*>/gi)) {
    const attrs = attributes(tag);
    if (!(attrs.get('rel') ?? '').toLowerCase().split(/\s+/).includes('canonical')) continue;
    const href = attrs.get('href')?.trim();
    if (!href) continue;
    try {
      const absolute = new URL(href, base);
      if (absolute.protocol === 'http:' || absolute.protocol === 'https:') return absolute.href;
    } catch {
      // a malformed canonical link is no canonical link
    }
  }
  return undefined;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export interface JinaReaderResult {
  title?: string;
  url?: string;
  published?: string;
  /** The target's HTTP status when Jina reports an error from it. */
  status?: number;
  markdown: string;
}

const JINA_FIELDS: Record<string, 'title' | 'url' | 'published' | 'warning'> = {
  title: 'title',
  'url source': 'url',
  'published time': 'published',
  warning: 'warning',
};

/**
 * Jina Reader's answer: JSON (`{ data: { title, url, content, publishedTime } }`) or its text
 * format, a preamble of `Title:`, `URL Source:`, `Published Time:`, `Warning:` lines, then
 * `Markdown Content:` and the page. Text without the preamble is all content.
 */
export function parseJinaReader(body: string, contentType = ''): JinaReaderResult {
  const trimmed = body.trimStart();
  if (baseMime(contentType) === 'application/json' || (trimmed.startsWith('{') && trimmed.includes('"data"'))) {
    const data = parseJinaJson(trimmed);
    if (data) return data;
  }
  const lines = body.split(/\r?\n/);
  const marker = lines.slice(0, 60).findIndex((line) => /^Markdown Content:\s*$/.test(line));
  if (marker === -1) return { markdown: body };
  const result: JinaReaderResult = { markdown: lines.slice(marker + 1).join('\n') };
  for (const line of lines.slice(0, marker)) {
    const match = /^([A-Za-z ]+):\s*(.*)$/.exec(line);
    const field = match ? JINA_FIELDS[match[1]!.trim().toLowerCase()] : undefined;
    const value = match?.[2]?.trim();
    if (!field || !value) continue;
    if (field === 'warning') {
      const status = /returned error (\d{3})/i.exec(value)?.[1];
      if (status) result.status = Number(status);
    } else {
      result[field] = value;
    }
  }
  return result;
}

function parseJinaJson(text: string): JinaReaderResult | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const data = (parsed as { data?: Record<string, unknown> } | null)?.data;
  if (!data || typeof data.content !== 'string') return undefined;
  const field = (key: string) => (typeof data[key] === 'string' && data[key] !== '' ? data[key] : undefined);
  const title = field('title');
  const url = field('url');
  const published = field('publishedTime');
  return { markdown: data.content, ...(title ? { title } : {}), ...(url ? { url } : {}), ...(published ? { published } : {}) };
}
