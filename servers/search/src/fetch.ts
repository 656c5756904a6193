import { DocumentFetcher, FathomError, HttpClient, isFathomError, parseWebUrl, withDeadline } from '@fathom/core';
import type { Cache, CacheHit, FetchedDocument, Logger, Peer } from '@fathom/core';
import { renderMarkdown } from '@fathom/files/convert';
import type { ConvertedDocument } from '@fathom/files/convert';
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
const OTHER_SCHEMES_HINT = "Give an http:// or https:// URL. Local files and data: URIs are read with the files server's read_document tool.";
const TOO_LARGE_HINT = 'Use a different source, or ask the operator to raise the limit with --max-page-bytes (FATHOM_MAX_PAGE_BYTES).';

interface RememberedRobots {
  robots: Promise<Robots>;
  expiresAt: number;
}

/**
 * Web pages as markdown: robots.txt, then Jina Reader when configured, else core's document
 * fetcher (the guard, the shared `fetch` cache) and the files converters in the worker pool.
 */
export class PageFetcher {
  private readonly config: Config;
  private readonly http: HttpClient;
  private readonly cache: Cache;
  private readonly logger: Logger;
  private readonly documents: DocumentFetcher;
  private readonly jina: HttpClient | undefined;
  private readonly robotsByOrigin = new Map<string, RememberedRobots>();
  private readonly pool: WorkerPool;

  constructor(options: PageFetcherOptions) {
    this.pool = options.pool;
    this.config = options.config;
    this.http = options.http;
    this.cache = options.cache;
    this.logger = options.logger;
    this.documents = new DocumentFetcher({
      http: this.http,
      cache: this.cache,
      logger: this.logger,
      maxBytes: this.config.maxPageBytes,
      timeoutMs: this.timeoutMs,
      ttlMs: this.config.pageTtlHours * HOUR_MS,
      tooLargeHint: TOO_LARGE_HINT,
      headers: { 'user-agent': this.config.userAgent },
    });
    // The operator chose the Jina endpoint, so it may be a local instance.
    this.jina = this.config.jinaApiKey
      ? new HttpClient({ allowPrivateNetwork: true, logger: this.logger, retries: 0, maxBytes: this.config.maxPageBytes, timeoutMs: this.timeoutMs })
      : undefined;
  }

  private get timeoutMs(): number {
    return this.config.fetchTimeoutSeconds * 1000;
  }

  async fetch(url: string, options: FetchOptions = {}): Promise<FetchedPage> {
    const target = parseWebUrl(url, OTHER_SCHEMES_HINT);
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
    const fetched = await this.documents.fetch(target, { ...(options.headers ? { headers: options.headers } : {}), ...(options.signal ? { signal: options.signal } : {}) });
    // A redirect may lead where robots.txt says no: the page is not handed on then.
    if (this.config.robots && fetched.finalUrl !== target.href) await this.checkRobots(new URL(fetched.finalUrl), options.signal);
    return this.toPage(fetched, options.mainContent ?? true);
  }

  async close(): Promise<void> {
    await this.jina?.close();
  }

  /** Any document, HTML too, goes through the one converter of its type, in the worker pool. */
  private async toPage(fetched: FetchedDocument, mainContent: boolean): Promise<FetchedPage> {
    const { bytes, contentType, finalUrl, name } = fetched;
    const input = { bytes, name, ...(contentType ? { mimeType: contentType } : {}), url: finalUrl };
    const options = { mainContent, titleHeading: false, keepHtml: true, documentsOnly: true };
    const document = await this.pool.run<ConvertedDocument>({ kind: 'convert', input, options }, this.timeoutMs, finalUrl);
    const { title, created, canonicalUrl, encoding } = document.info;
    return {
      url: fetched.url,
      finalUrl,
      ...(canonicalUrl ? { canonicalUrl } : {}),
      ...(title ? { title } : {}),
      ...(created ? { published: created } : {}),
      contentType: contentType || document.info.mimeType,
      type: document.info.type,
      markdown: renderMarkdown(document),
      ...(document.html !== undefined ? { html: document.html, encoding } : {}),
      via: 'direct',
      fromCache: fetched.fromCache,
      peers: fetched.peers,
    };
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
    const hit = await withDeadline({ timeoutMs: this.timeoutMs, tooLargeHint: TOO_LARGE_HINT }, target.href, signal, (deadline) =>
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

function baseMime(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
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
