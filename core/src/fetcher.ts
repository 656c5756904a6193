import { STATUS_CODES } from 'node:http';
import type { Cache, CacheKey, CacheMeta } from './cache.js';
import { FathomError, isFathomError } from './errors.js';
import type { Logger } from './log.js';
import type { HttpClient, Peer } from './net/index.js';

/** A document as the web served it: the bytes and what the response said about them. */
export interface FetchedDocument {
  /** The requested URL, normalized, without its fragment. */
  url: string;
  /** Where it was found, after redirects. */
  finalUrl: string;
  status: number;
  /** The Content-Type header, '' when the server sent none. */
  contentType: string;
  bytes: Buffer;
  /** The last segment of the final URL's path, percent-decoded where it can be ('index' when empty). */
  name: string;
  fromCache: boolean;
  /** Each hop's address as the guarded client connected to it; none when the cache entry predates them. */
  peers: Peer[];
}

export interface DocumentFetcherOptions {
  /** The guarded client (httpClientFor): its AddressGuard resolves every name and checks every hop. */
  http: HttpClient;
  cache: Cache;
  logger: Logger;
  maxBytes: number;
  /** One time limit for all attempts and redirects together; without it only each attempt is limited. */
  timeoutMs?: number;
  /** How long a fetched document is reused; the same for every server sharing the cache file. */
  ttlMs?: number;
  /** What to tell the agent when a document is over `maxBytes`: how the operator raises the limit. */
  tooLargeHint?: string;
  /** Sent with every request (e.g. the operator's User-Agent), and not part of the cache key. */
  headers?: Record<string, string>;
}

export interface FetchDocumentOptions {
  /** Extra request headers (Host and framing headers cannot be set); they become part of the cache key. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export const DEFAULT_FETCH_TTL_MS = 24 * 60 * 60 * 1000;
const ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.7';
const PROTECTED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade']);

/**
 * The one way Fathom downloads a document from the web: web_fetch, extract, read_document with a
 * URL and sandbox_download_url all come here. One cache entry shape under namespace `fetch`, keyed
 * by the normalized URL (and custom headers, when there are any), with one lifetime.
 */
export class DocumentFetcher {
  constructor(private readonly options: DocumentFetcherOptions) {}

  async fetch(url: string | URL, options: FetchDocumentOptions = {}): Promise<FetchedDocument> {
    const target = typeof url === 'string' ? parseWebUrl(url) : url;
    const custom = requestHeaders(options.headers);
    const headers = { accept: ACCEPT, 'accept-language': 'en-US,en;q=0.9', ...requestHeaders(this.options.headers), ...custom };
    const key: CacheKey = Object.keys(custom).length > 0 ? { url: target.href, headers: custom } : { url: target.href };
    const { http, cache, logger, maxBytes, ttlMs = DEFAULT_FETCH_TTL_MS } = this.options;
    const hit = await withDeadline(this.options, target.href, options.signal, (signal) =>
      http.cached(
        cache,
        'fetch',
        key,
        async () => {
          const response = await http.request(target.href, { headers, maxBytes, ...(signal ? { signal } : {}) });
          if (response.status < 200 || response.status >= 300) throw statusError(target.href, response.status);
          logger.debug('fetched', { url: target.href, finalUrl: response.url, status: response.status, bytes: response.body.length });
          return { response, meta: { finalUrl: response.url, contentType: response.contentType ?? '', status: response.status } };
        },
        { ttlMs },
      ),
    );
    const finalUrl = String(hit.meta.finalUrl || target.href);
    return {
      url: target.href,
      finalUrl,
      status: Number(hit.meta.status ?? 200),
      contentType: String(hit.meta.contentType ?? ''),
      bytes: hit.body,
      name: fileNameOf(finalUrl),
      fromCache: hit.fromCache,
      peers: storedPeers(hit.meta),
    };
  }
}

/**
 * Runs `run` under one time limit for all its attempts and redirects (none when `timeoutMs` is
 * undefined) and the caller's signal; a timeout is worded as one, and too large says `tooLargeHint`.
 */
export async function withDeadline<T>(
  limits: { timeoutMs?: number | undefined; tooLargeHint?: string | undefined },
  shown: string,
  signal: AbortSignal | undefined,
  run: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  const { timeoutMs, tooLargeHint } = limits;
  const deadline = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  try {
    return await run(signal && deadline ? AbortSignal.any([signal, deadline]) : (deadline ?? signal));
  } catch (error) {
    if (isFathomError(error, 'too_large') && tooLargeHint) {
      throw new FathomError('too_large', error.message, { hint: tooLargeHint, details: error.details, cause: error });
    }
    if (deadline?.aborted && !signal?.aborted && isFathomError(error, 'cancelled')) {
      throw new FathomError('timeout', `Timed out after ${timeoutMs! / 1000} s fetching ${shown}`, {
        hint: 'The site is slow or not answering. Try again later or use a different source.',
        cause: error,
      });
    }
    throw error;
  }
}

/** An absolute http(s) URL without its fragment, or an error that says what to give instead. */
export function parseWebUrl(url: string, otherSchemesHint = 'Give an http:// or https:// URL.'): URL {
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
      hint: otherSchemesHint,
    });
  }
  target.hash = '';
  return target;
}

/** The last segment of a URL's path, percent-decoded unless its escapes are malformed; 'index' for a folder. */
export function fileNameOf(url: string): string {
  const segment = new URL(url).pathname.split('/').pop() || 'index';
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function requestHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(extra)) {
    const lower = name.toLowerCase();
    if (!PROTECTED_HEADERS.has(lower)) headers[lower] = value;
  }
  return headers;
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

/** The peers a cache entry was stored with; none (unknown) unless it holds a list of them. */
function storedPeers(meta: CacheMeta): Peer[] {
  const { peers } = meta;
  const valid = Array.isArray(peers) && peers.every((peer: Partial<Peer> | null) => typeof peer?.url === 'string' && typeof peer.address === 'string');
  return valid ? (peers as Peer[]) : [];
}
