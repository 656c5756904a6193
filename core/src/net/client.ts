import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip, inflate } from 'node:zlib';
import type { InputType, ZlibOptions } from 'node:zlib';
import { Agent, buildConnector } from 'undici';
import type { Cache, CacheHit, CacheKey, CacheMeta, CacheWriteOptions } from '../cache.js';
import { FathomError, errorMessage, isFathomError } from '../errors.js';
import { createLogger } from '../log.js';
import type { Logger } from '../log.js';
import { AddressGuard, blockedAddressError } from './guard.js';
import type { Peer, Refusal } from './guard.js';
import { HostLimiter, sleep } from './limiter.js';

export interface NetOptions {
  /** Allow loopback, private, link-local and metadata addresses. Default false. */
  allowPrivateNetwork?: boolean;
  /** Hostnames (`*.example.internal` allowed), IPs or CIDR ranges that bypass the address guard. */
  allowHosts?: string[];
  /** Total time per attempt, body included. Default 30 000. */
  timeoutMs?: number;
  /** Largest body accepted, after decompression. Default 20 MiB. */
  maxBytes?: number;
  maxRedirects?: number;
  /** Extra attempts after the first. Default 2. */
  retries?: number;
  /** First backoff delay; doubles each retry, with jitter. Default 200. */
  retryBaseMs?: number;
  /** A longer Retry-After fails at once with 'rate_limited'. Default 30 000. */
  maxRetryAfterMs?: number;
  perHostConcurrency?: number;
  /** Minimum spacing between request starts to one host. Default 0. */
  perHostMinIntervalMs?: number;
  userAgent?: string;
  logger?: Logger;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Uint8Array;
  timeoutMs?: number;
  maxBytes?: number;
  signal?: AbortSignal;
  retries?: number;
  followRedirects?: boolean;
}

export interface HttpResponse {
  /** The final URL, after redirects. */
  url: string;
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Every URL that answered with a redirect, in order (the first is the requested URL). */
  redirects: string[];
  /** The addresses each hop (redirects included) was fetched from, for stored copies: see `cached`. */
  peers: Peer[];
  contentType?: string;
  text(): string;
  json<T = unknown>(): T;
}

export const DEFAULT_USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** Hosts whose connected addresses are remembered, for the peers of responses. */
const MAX_REMEMBERED_HOSTS = 4096;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const PERMANENT_NETWORK_CODES = /^(ENOTFOUND|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED)/;
const NETWORK_REASONS: Record<string, string> = {
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved right now',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  UND_ERR_SOCKET: 'the connection closed unexpectedly',
};

type Decoder = (input: InputType, options: ZlibOptions) => Promise<Buffer>;
const DECODERS: Record<string, Decoder> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

type Payload = string | Buffer | Uint8Array;

interface Exchange {
  method: string;
  headers: Record<string, string>;
  body: Payload | undefined;
}

interface Settings {
  timeoutMs: number;
  maxBytes: number;
  retries: number;
  followRedirects: boolean;
  signal: AbortSignal | undefined;
}

type Next = { kind: 'return' } | { kind: 'redirect'; location: string } | { kind: 'retry'; delayMs: number };

interface Outcome {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  next: Next;
}

/** The one outbound HTTP client: SSRF guard, timeouts, size caps, redirects, retries, per-host limits. */
export class HttpClient {
  private readonly guard: AddressGuard;
  private readonly agent: Agent;
  private readonly limiter: HostLimiter;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxRedirects: number;
  private readonly retries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly userAgent: string;
  /** Host name → every address a connection for it went to (connections are pooled, so not per request). */
  private readonly connected = new Map<string, Set<string>>();

  constructor(options: NetOptions = {}) {
    this.guard = new AddressGuard(options.allowPrivateNetwork ?? false, options.allowHosts ?? []);
    const connect = buildConnector({ lookup: this.guard.lookup });
    this.agent = new Agent({
      connect: (connectOptions, callback) =>
        connect(connectOptions, (...args) => {
          const socket = args[1];
          if (socket?.remoteAddress) this.rememberPeer(connectOptions.hostname, socket.remoteAddress);
          callback(...args);
        }),
    });
    this.limiter = new HostLimiter(Math.max(1, options.perHostConcurrency ?? 8), options.perHostMinIntervalMs ?? 0);
    this.logger = options.logger ?? createLogger('net');
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.maxBytes = options.maxBytes ?? 20 * 1024 * 1024;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.retries = options.retries ?? 2;
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
  }

  async request(url: string, init: RequestOptions = {}): Promise<HttpResponse> {
    const settings: Settings = {
      timeoutMs: init.timeoutMs ?? this.timeoutMs,
      maxBytes: init.maxBytes ?? this.maxBytes,
      retries: init.retries ?? this.retries,
      followRedirects: init.followRedirects ?? true,
      signal: init.signal,
    };
    let target = parseUrl(url);
    let exchange: Exchange = {
      method: (init.method ?? 'GET').toUpperCase(),
      headers: this.requestHeaders(init.headers),
      body: init.body,
    };
    const redirects: string[] = [];
    const peers: Peer[] = [];
    for (;;) {
      this.guard.checkUrl(target, display(target));
      const outcome = await this.withRetries(target, exchange, settings);
      peers.push(...this.peersOf(target));
      if (outcome.next.kind !== 'redirect') return toResponse(target, outcome, redirects, peers);
      if (redirects.length >= this.maxRedirects) {
        throw new FathomError('upstream', `Too many redirects (more than ${this.maxRedirects}) fetching ${display(parseUrl(url))}`, {
          hint: 'The site redirects in a loop or too often. Try the final URL directly, or use a different source.',
          details: { redirects: [...redirects, target.href] },
        });
      }
      const next = resolveLocation(outcome.next.location, target);
      this.logger.debug('redirect', { from: display(target), to: display(next), status: outcome.status });
      redirects.push(target.href);
      exchange = redirected(exchange, outcome.status, target, next);
      target = next;
    }
  }

  /**
   * `cache.getOrSet` for a response of this client. The entry keeps the addresses the response
   * came from, and a stored entry is served only where this client's policy reaches them all: a
   * stricter client fetches afresh instead, and so meets the refusal an uncached request meets.
   * (Replay mode cannot fetch: it refuses such an entry.)
   */
  async cached(
    cache: Cache,
    namespace: string,
    key: CacheKey,
    fetch: () => Promise<{ response: HttpResponse; meta?: CacheMeta }>,
    options: CacheWriteOptions = {},
  ): Promise<CacheHit> {
    return this.cachedFrom(
      cache,
      namespace,
      key,
      async () => {
        const { response, meta } = await fetch();
        return { body: response.body, peers: response.peers, ...(meta ? { meta } : {}) };
      },
      options,
    );
  }

  /** `cached` for a value made from any number of this client's responses: `peers` are all of theirs. */
  async cachedFrom(
    cache: Cache,
    namespace: string,
    key: CacheKey,
    make: () => Promise<{ body: Buffer | string; peers: Peer[]; meta?: CacheMeta }>,
    options: CacheWriteOptions = {},
  ): Promise<CacheHit> {
    const produce = async () => {
      const { body, peers, meta } = await make();
      return { body, meta: { ...meta, peers } };
    };
    const usable = (stored: CacheHit) => cache.mode === 'replay' || this.guard.refusedPeer(stored.meta.peers) === undefined;
    const hit = await cache.getOrSet(namespace, key, produce, { ...options, usable });
    // The producer may have been another caller's, with another policy.
    const refused = this.guard.refusedPeer(hit.meta.peers);
    if (refused) throw this.guard.peerError(refused);
    return hit;
  }

  /**
   * Throws the refusal a request to `url` would meet, resolving its host name as a connection
   * would; for handing a URL to a service that fetches it for us. A name that does not resolve
   * here passes. Returns the addresses checked, as the peers of a response (one unknown when none).
   */
  async checkReachable(url: string): Promise<Peer[]> {
    const target = parseUrl(url);
    const shown = display(target);
    const addresses = await this.guard.checkResolved(target, shown);
    return addresses.length ? addresses.map((address) => ({ url: shown, address })) : [{ url: shown, address: '' }];
  }

  /** The first of `peers` (as `HttpResponse.peers` lists them, or as stored) this client's policy refuses. */
  refusedPeer(peers: unknown): Peer | undefined {
    return this.guard.refusedPeer(peers);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private rememberPeer(hostname: string, address: string): void {
    const host = normalizeHostname(hostname);
    const known = this.connected.get(host) ?? new Set<string>();
    known.add(address);
    this.connected.delete(host);
    this.connected.set(host, known);
    if (this.connected.size > MAX_REMEMBERED_HOSTS) this.connected.delete(this.connected.keys().next().value!);
  }

  /** The addresses a request to `target` may have gone to; an empty address when none is known. */
  private peersOf(target: URL): Peer[] {
    const url = display(target);
    const addresses = [...(this.connected.get(normalizeHostname(target.hostname)) ?? [])];
    return addresses.length ? addresses.map((address) => ({ url, address })) : [{ url, address: '' }];
  }

  private requestHeaders(given: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': this.userAgent,
      accept: '*/*',
      'accept-language': 'en-US,en;q=0.9',
      'accept-encoding': 'gzip, deflate, br',
    };
    for (const [name, value] of Object.entries(given)) headers[name.toLowerCase()] = value;
    return headers;
  }

  private async withRetries(target: URL, exchange: Exchange, settings: Settings): Promise<Outcome> {
    const idempotent = IDEMPOTENT_METHODS.has(exchange.method);
    for (let attempt = 0; ; attempt++) {
      let delayMs: number;
      try {
        const outcome = await this.attempt(target, exchange, settings, (status, headers) =>
          this.plan(status, headers, exchange.method, settings, attempt, target),
        );
        if (outcome.next.kind !== 'retry') return outcome;
        delayMs = outcome.next.delayMs;
        this.logger.debug('retrying', { url: display(target), status: outcome.status, delayMs, attempt: attempt + 1 });
      } catch (error) {
        if (attempt >= settings.retries || !idempotent || !isTransient(error)) throw error;
        delayMs = this.backoff(attempt);
        this.logger.debug('retrying', { url: display(target), error, delayMs, attempt: attempt + 1 });
      }
      await sleep(delayMs, settings.signal).catch((error: unknown) => {
        throw cancelled(display(target), error);
      });
    }
  }

  private plan(status: number, headers: Record<string, string>, method: string, settings: Settings, attempt: number, target: URL): Next {
    const location = headers.location;
    if (settings.followRedirects && REDIRECT_STATUSES.has(status) && location) return { kind: 'redirect', location };
    if (attempt >= settings.retries || !RETRY_STATUSES.has(status)) return { kind: 'return' };
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    const retryable = IDEMPOTENT_METHODS.has(method) || ((status === 429 || status === 503) && retryAfterMs !== undefined);
    if (!retryable) return { kind: 'return' };
    if (retryAfterMs !== undefined && retryAfterMs > this.maxRetryAfterMs) {
      const seconds = Math.ceil(retryAfterMs / 1000);
      throw new FathomError('rate_limited', `${display(target)} answered ${status} and asks to wait ${seconds} s`, {
        hint: `Try again after ${new Date(Date.now() + retryAfterMs).toISOString()} (in ${seconds} s), or use a different source.`,
        details: { status, retryAfterMs },
      });
    }
    return { kind: 'retry', delayMs: retryAfterMs ?? this.backoff(attempt) };
  }

  private backoff(attempt: number): number {
    return Math.round(this.retryBaseMs * 2 ** attempt * (0.5 + Math.random()));
  }

  private async attempt(
    target: URL,
    exchange: Exchange,
    settings: Settings,
    plan: (status: number, headers: Record<string, string>) => Next,
  ): Promise<Outcome> {
    const shown = display(target);
    const { signal } = settings;
    const release = await this.limiter.acquire(target.host, signal).catch((error: unknown) => {
      throw cancelled(shown, error);
    });
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, settings.timeoutMs);
    const onAbort = () => controller.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) controller.abort();
    let stream: Readable | undefined;
    try {
      const response = await this.agent.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: exchange.method,
        headers: exchange.headers,
        body: exchange.body ?? null,
        signal: controller.signal,
      });
      stream = response.body;
      const headers = flattenHeaders(response.headers);
      const next = plan(response.statusCode, headers);
      if (next.kind !== 'return') {
        await response.body.dump();
        return { status: response.statusCode, headers, body: Buffer.alloc(0), next };
      }
      const body = await readBody(response.body, headers, settings.maxBytes, exchange.method, shown);
      return { status: response.statusCode, headers, body, next };
    } catch (error) {
      stream?.on('error', ignore).destroy();
      if (signal?.aborted) throw cancelled(shown, error);
      if (timedOut) throw timeoutError(shown, settings.timeoutMs, error);
      throw toFathomError(error, shown, settings.timeoutMs);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      release();
    }
  }
}

const ignore = () => undefined;

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch (error) {
    throw new FathomError('invalid_argument', `Not a valid URL: ${JSON.stringify(url)}`, {
      hint: 'Give an absolute http:// or https:// URL.',
      cause: error,
    });
  }
}

function resolveLocation(location: string, base: URL): URL {
  try {
    return new URL(location, base);
  } catch (error) {
    throw new FathomError('upstream', `${display(base)} redirected to an invalid URL: ${JSON.stringify(location)}`, {
      cause: error,
    });
  }
}

/** The URL without any user:password part, for messages and logs. */
function display(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function redirected(exchange: Exchange, status: number, from: URL, to: URL): Exchange {
  const headers = { ...exchange.headers };
  if (from.origin !== to.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
  const becomesGet = status === 303 || ((status === 301 || status === 302) && exchange.method === 'POST');
  if (!becomesGet) return { ...exchange, headers };
  delete headers['content-type'];
  delete headers['content-length'];
  return { method: exchange.method === 'HEAD' ? 'HEAD' : 'GET', headers, body: undefined };
}

function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function tooLarge(shown: string, maxBytes: number, contentLength?: number): FathomError {
  return new FathomError('too_large', `The response from ${shown} is larger than the ${formatBytes(maxBytes)} limit`, {
    hint: 'Ask for a smaller part (a narrower query, a page range, or an HTTP Range header), or use a different source.',
    details: { maxBytes, ...(contentLength === undefined ? {} : { contentLength }) },
  });
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** Reads at most `maxBytes`, decompressing gzip/deflate/br; mutates `headers` once decoded. */
async function readBody(
  stream: Readable,
  headers: Record<string, string>,
  maxBytes: number,
  method: string,
  shown: string,
): Promise<Buffer> {
  const contentLength = Number(headers['content-length']);
  if (method !== 'HEAD' && contentLength > maxBytes) throw tooLarge(shown, maxBytes, contentLength);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(shown, maxBytes);
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks, size);
  const encoding = headers['content-encoding']?.trim().toLowerCase();
  const decode = encoding ? DECODERS[encoding] : undefined;
  if (!decode || raw.length === 0) return raw;
  try {
    const decoded = await decode(raw, { maxOutputLength: maxBytes });
    delete headers['content-encoding'];
    delete headers['content-length'];
    return decoded;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(shown, maxBytes);
    throw new FathomError('upstream', `Could not decode the ${encoding} body from ${shown}`, { cause: error });
  }
}

function normalizeHostname(hostname: string): string {
  return hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase().replace(/\.$/, '');
}

function toResponse(url: URL, outcome: Outcome, redirects: string[], peers: Peer[]): HttpResponse {
  const { status, headers, body } = outcome;
  return {
    url: url.href,
    status,
    headers,
    body,
    redirects,
    peers,
    contentType: headers['content-type'],
    text: () => new TextDecoder().decode(body),
    json: <T>() => {
      try {
        return JSON.parse(new TextDecoder().decode(body)) as T;
      } catch (error) {
        throw new FathomError('upstream', `The response from ${display(url)} is not valid JSON`, {
          hint: `It is ${headers['content-type'] ?? 'of unknown type'}; read it as text instead.`,
          cause: error,
        });
      }
    },
  };
}

function cancelled(shown: string, cause: unknown): FathomError {
  return new FathomError('cancelled', `Cancelled fetching ${shown}`, { cause });
}

function timeoutError(shown: string, timeoutMs: number, cause: unknown): FathomError {
  return new FathomError('timeout', `Timed out after ${timeoutMs / 1000} s fetching ${shown}`, {
    hint: 'The server is slow or not answering. Try again later, ask for less, or use a different source.',
    cause,
  });
}

function errorCode(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function toFathomError(error: unknown, shown: string, timeoutMs: number): FathomError {
  if (isFathomError(error, 'blocked_address')) return blockedAddressError(shown, error.details as unknown as Refusal, error);
  if (error instanceof FathomError) return error;
  const code = errorCode(error);
  if (code && TIMEOUT_CODES.has(code)) return timeoutError(shown, timeoutMs, error);
  if (code === 'UND_ERR_INVALID_ARG') {
    return new FathomError('invalid_argument', `Invalid request for ${shown}: ${errorMessage(error)}`, { cause: error });
  }
  const reason = (code && NETWORK_REASONS[code]) ?? errorMessage(error);
  return new FathomError('network', `Could not fetch ${shown}: ${reason}`, {
    hint: 'Check the URL. If it is right, the site may be down: try again later or use a different source.',
    cause: error,
    details: { code },
  });
}

function isTransient(error: unknown): boolean {
  if (isFathomError(error, 'timeout')) return true;
  if (!isFathomError(error, 'network')) return false;
  const code = error.details?.code;
  return !(typeof code === 'string' && PERMANENT_NETWORK_CODES.test(code));
}
