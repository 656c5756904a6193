import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants as zlibConstants } from 'node:zlib';
import type { BodyEncoding, CacheMeta, CacheStore, PruneResult } from './cache-store.js';
import { RedisStore } from './cache-redis.js';
import { SqliteStore } from './cache-sqlite.js';
import { FathomError, errorMessage } from './errors.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';

export type { BodyEncoding, CacheMeta, CacheStore, PruneResult } from './cache-store.js';
export { checkRedisUrl, redactRedisUrl } from './cache-redis.js';

export const CACHE_MODES = ['normal', 'record', 'replay', 'off'] as const;
/**
 * - normal: fresh entries are served; misses and expired entries are produced and stored.
 * - record: always goes live and stores every result without expiry, capturing a run whole.
 * - replay: never goes live; serves stored entries whatever their age; a miss is an error.
 * - off: never reads or writes.
 */
export type CacheMode = (typeof CACHE_MODES)[number];

export interface CacheOptions {
  /** The SQLite file (parent directories are created), or ':memory:'; used unless `url` is given. */
  path?: string;
  /** A redis:// or rediss:// URL: entries live in that Redis, shared by every process using it. */
  url?: string;
  mode?: CacheMode;
  /** Used when a write names no TTL. Default one day; `Infinity` means never expire. */
  defaultTtlMs?: number;
  /** `prune()` evicts least-recently-accessed entries until stored bodies fit. */
  maxBytes?: number;
  /** Prune in the background after a write, at most this often. Default: only when `prune()` is called. */
  pruneEveryMs?: number;
  /** The largest body stored (after compression); a larger one is served but not kept, with a warning. Default 64 MiB. */
  maxEntryBytes?: number;
  /** Bodies this large or larger are stored brotli-compressed when that saves a tenth or more. Default 4 KiB. */
  compressAboveBytes?: number;
  /** Redis: the prefix of every key (default `fathom:cache:`) and the longest wait for one command (default 2000 ms). */
  redisPrefix?: string;
  redisTimeoutMs?: number;
  now?: () => number;
  logger?: Logger;
}

/** Any JSON-like value; object key order does not matter. */
export type CacheKey = string | number | boolean | null | readonly CacheKey[] | { readonly [key: string]: CacheKey | undefined };

export interface CacheWriteOptions {
  /** `Infinity` never expires; `0` (or less) keeps nothing, except in record mode. */
  ttlMs?: number;
  meta?: CacheMeta;
}

export interface CacheReadOptions {
  /** Whether a stored entry may be served; one it rejects counts as missing (produced anew). */
  usable?: (hit: CacheHit) => boolean;
}

/** What a producer returns: a body alone, or a body with metadata (final URL, content type, …) and its own TTL. */
export type Produced = Buffer | string | ({ body: Buffer | string } & CacheWriteOptions);

export interface CacheHit {
  body: Buffer;
  meta: CacheMeta;
  createdAt: number;
  expiresAt: number | null;
  /** False when the producer just made it. */
  fromCache: boolean;
  text(): string;
  json<T = unknown>(): T;
}

export interface CacheStats {
  entries: number;
  /** Stored body bytes (compressed where they were), each distinct body counted once. */
  bytes: number;
  /** Counted by this instance since it opened. */
  hits: number;
  misses: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_MAX_ENTRY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_COMPRESS_ABOVE_BYTES = 4096;
/** A body this large is compressed only when its first SAMPLE_BYTES compress well (an image or a PDF does not). */
const SAMPLE_ABOVE_BYTES = 256 * 1024;
const SAMPLE_BYTES = 64 * 1024;

const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

const log = createLogger('cache');

/**
 * The search, fetch and conversion cache, with its entries in a store: a SQLite file (the
 * default) or a Redis many processes share (`url`). The mode, TTLs, `usable`, single flight, the
 * size cap and compression are the same whichever store holds them. A store that fails (Redis
 * unreachable, a locked file) never fails a call: a read counts as a miss, a write is dropped,
 * and one warning is logged per outage (and one line when it answers again).
 */
export class Cache {
  readonly mode: CacheMode;
  readonly store: CacheStore;
  private readonly now: () => number;
  private readonly defaultTtlMs: number;
  private readonly maxBytes: number | undefined;
  private readonly maxEntryBytes: number;
  private readonly compressAbove: number;
  private readonly pruneEveryMs: number | undefined;
  private readonly log: Logger;
  private readonly inFlight = new Map<string, Promise<CacheHit>>();
  private hits = 0;
  private misses = 0;
  private failing = false;
  private lastPrune = -Infinity;
  private pruning: Promise<unknown> | undefined;

  private constructor(store: CacheStore, options: CacheOptions & { mode: CacheMode }) {
    this.store = store;
    this.mode = options.mode;
    this.now = options.now ?? Date.now;
    this.defaultTtlMs = options.defaultTtlMs ?? DAY_MS;
    this.maxBytes = options.maxBytes;
    this.maxEntryBytes = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
    this.compressAbove = options.compressAboveBytes ?? DEFAULT_COMPRESS_ABOVE_BYTES;
    this.pruneEveryMs = options.pruneEveryMs;
    this.log = options.logger ?? log;
  }

  static open(options: CacheOptions): Cache {
    const mode = options.mode ?? 'normal';
    if (!CACHE_MODES.includes(mode)) {
      throw new FathomError('invalid_argument', `Unknown cache mode "${String(mode)}".`, { hint: `Use one of: ${CACHE_MODES.join(', ')}.` });
    }
    const logger = options.logger ?? log;
    // Off mode touches no file and connects to nothing.
    let store: CacheStore;
    if (mode === 'off') store = SqliteStore.open(':memory:');
    else if (options.url) {
      store = new RedisStore({
        url: options.url,
        logger,
        ...(options.redisPrefix !== undefined ? { prefix: options.redisPrefix } : {}),
        ...(options.redisTimeoutMs !== undefined ? { timeoutMs: options.redisTimeoutMs } : {}),
      });
    } else if (options.path !== undefined) store = SqliteStore.open(options.path);
    else throw new FathomError('invalid_argument', 'A cache needs a file path or a Redis URL.');
    return new Cache(store, { ...options, mode });
  }

  /** A stored entry that this mode may serve (fresh in normal mode, any age in replay), else undefined. */
  async get(namespace: string, key: CacheKey, options: CacheReadOptions = {}): Promise<CacheHit | undefined> {
    return (await this.lookup(namespace, key, options)).hit;
  }

  /** Stores `body` under the key. Returns what was stored, or undefined when nothing was kept (the mode, a zero TTL, the size cap, a failing store). */
  async set(namespace: string, key: CacheKey, body: Buffer | string, options: CacheWriteOptions = {}): Promise<CacheHit | undefined> {
    if (this.mode === 'off' || this.mode === 'replay') return undefined;
    const ttlMs = this.mode === 'record' ? Infinity : (options.ttlMs ?? this.defaultTtlMs);
    if (ttlMs <= 0) return undefined;
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const meta = options.meta ?? {};
    const now = this.now();
    const expiresAt = Number.isFinite(ttlMs) ? now + ttlMs : null;
    const { stored, encoding } = await this.encode(bytes);
    if (stored.length > this.maxEntryBytes) {
      this.log.warn('not cached: too large', { namespace, bytes: stored.length, maxEntryBytes: this.maxEntryBytes });
      return undefined;
    }
    try {
      await this.store.set(
        namespace,
        hashKey(namespace, key),
        {
          keyText: canonicalJson(key),
          bodyHash: createHash('sha256').update(bytes).digest('hex'),
          body: stored,
          encoding,
          meta,
          createdAt: now,
          expiresAt,
          ttlMs: Number.isFinite(ttlMs) ? ttlMs : undefined,
        },
        now,
      );
      this.answered();
    } catch (error) {
      this.failed('write', error);
      return undefined;
    }
    this.schedulePrune(now);
    return makeHit(bytes, meta, now, expiresAt, false);
  }

  /**
   * The cached value, or the producer's (stored per the mode). Concurrent calls for one key in this
   * process share a single producer call (other processes sharing a Redis produce their own). A
   * producer that throws stores nothing.
   */
  async getOrSet(
    namespace: string,
    key: CacheKey,
    produce: () => Promise<Produced>,
    { usable, ...options }: CacheWriteOptions & CacheReadOptions = {},
  ): Promise<CacheHit> {
    const flightKey = `${namespace}\0${hashKey(namespace, key)}`;
    // A call already producing this key found nothing to serve: join it rather than ask the store again.
    const producing = this.inFlight.get(flightKey);
    if (producing) return producing;
    const { hit: cached, failed } = await this.lookup(namespace, key, usable ? { usable } : {});
    if (cached) return cached;
    if (this.mode === 'replay') {
      if (failed) {
        throw new FathomError('unavailable', `The cache at ${this.store.location} cannot be read, so ${namespace} ${describeKey(key)} cannot be replayed.`, {
          hint: 'Replay needs the recording: check that the cache (the Redis of FATHOM_CACHE_URL) is reachable, then call again.',
          details: { namespace, key },
        });
      }
      throw new FathomError('not_found', `Not in the recording: ${namespace} ${describeKey(key)}.`, {
        hint: 'This run replays a recording (FATHOM_CACHE_MODE=replay); record it first with FATHOM_CACHE_MODE=record, or switch to normal mode.',
        details: { namespace, key },
      });
    }
    // Looked up while another call was: its producer may have started meanwhile.
    const pending = this.inFlight.get(flightKey);
    if (pending) return pending;
    // Deferred a tick so the in-flight entry exists before the producer can settle, even synchronously.
    const run = Promise.resolve()
      .then(produce)
      .then(async (produced) => {
        const { body, ...write } = typeof produced === 'string' || Buffer.isBuffer(produced) ? { body: produced } : produced;
        const merged = { ...options, ...write, meta: { ...options.meta, ...write.meta } };
        const stored = await this.set(namespace, key, body, merged);
        return stored ?? makeHit(typeof body === 'string' ? Buffer.from(body) : body, merged.meta, this.now(), null, false);
      })
      .finally(() => this.inFlight.delete(flightKey));
    this.inFlight.set(flightKey, run);
    return run;
  }

  async delete(namespace: string, key: CacheKey): Promise<boolean> {
    if (this.mode === 'off' || this.mode === 'replay') return false;
    try {
      const deleted = await this.store.delete(namespace, hashKey(namespace, key));
      this.answered();
      return deleted;
    } catch (error) {
      this.failed('delete', error);
      return false;
    }
  }

  /**
   * Drops expired entries, then (with `maxBytes`) least-recently-accessed ones until the stored
   * bodies fit, then bodies no entry uses. Does nothing in replay or off mode: a recording is kept whole.
   * A failing store's error is thrown.
   */
  async prune(): Promise<PruneResult> {
    if (this.mode === 'off' || this.mode === 'replay') return { entries: 0, blobs: 0, bytes: 0 };
    const removed = await this.store.prune(this.now(), this.maxBytes);
    if (removed.entries > 0 || removed.blobs > 0) this.log.debug('pruned', { ...removed });
    return removed;
  }

  /** Entries and bytes in the store (a failing store's error is thrown), and this instance's hits and misses. */
  async stats(): Promise<CacheStats> {
    const { entries, bytes } = await this.store.stats();
    return { entries, bytes, hits: this.hits, misses: this.misses };
  }

  async close(): Promise<void> {
    await this.pruning;
    await this.store.close();
  }

  private async lookup(namespace: string, key: CacheKey, { usable }: CacheReadOptions): Promise<{ hit?: CacheHit; failed: boolean }> {
    if (this.mode === 'off' || this.mode === 'record') return { failed: false };
    const now = this.now();
    let hit: CacheHit | undefined;
    try {
      const stored = await this.store.get(namespace, hashKey(namespace, key), this.mode === 'normal' ? now : undefined);
      this.answered();
      if (stored) hit = makeHit(await decode(stored.body, stored.encoding), stored.meta, stored.createdAt, stored.expiresAt, true);
    } catch (error) {
      this.failed('read', error);
      this.misses++;
      return { failed: true };
    }
    if (!hit || (this.mode === 'normal' && hit.expiresAt !== null && hit.expiresAt <= now) || (usable && !usable(hit))) {
      this.misses++;
      return { failed: false };
    }
    this.hits++;
    return { hit, failed: false };
  }

  private async encode(bytes: Buffer): Promise<{ stored: Buffer; encoding: BodyEncoding }> {
    if (bytes.length < this.compressAbove) return { stored: bytes, encoding: 'identity' };
    const packed = (input: Buffer) =>
      compress(input, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: input.length } });
    if (bytes.length > SAMPLE_ABOVE_BYTES) {
      const sample = bytes.subarray(0, SAMPLE_BYTES);
      if ((await packed(sample)).length > sample.length * 0.9) return { stored: bytes, encoding: 'identity' };
    }
    const stored = await packed(bytes);
    return stored.length <= bytes.length * 0.9 ? { stored, encoding: 'br' } : { stored: bytes, encoding: 'identity' };
  }

  private schedulePrune(now: number): void {
    if (this.pruneEveryMs === undefined || this.pruning || now - this.lastPrune < this.pruneEveryMs) return;
    this.lastPrune = now;
    this.pruning = this.prune()
      .catch((error: unknown) => this.log.warn('could not prune the cache', { store: this.store.kind, error: errorMessage(error) }))
      .finally(() => (this.pruning = undefined));
  }

  private failed(action: string, error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.log.warn('cache unavailable: reads count as misses and writes are dropped until it answers again', {
      store: this.store.kind,
      location: this.store.location,
      action,
      error: errorMessage(error),
    });
  }

  private answered(): void {
    if (!this.failing) return;
    this.failing = false;
    // At the warning's level, so a log kept at warn shows when the outage ended.
    this.log.warn('cache available again', { store: this.store.kind, location: this.store.location });
  }
}

async function decode(body: Buffer, encoding: BodyEncoding): Promise<Buffer> {
  switch (encoding) {
    case 'identity':
      return body;
    case 'br':
      return decompress(body);
    default:
      throw new Error(`unknown body encoding "${String(encoding)}"`);
  }
}

function makeHit(body: Buffer, meta: CacheMeta, createdAt: number, expiresAt: number | null, fromCache: boolean): CacheHit {
  return {
    body,
    meta,
    createdAt,
    expiresAt,
    fromCache,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

/** JSON with object keys sorted at every level, so equal keys hash equally whatever their order. */
export function canonicalJson(value: CacheKey | undefined): string {
  if (Array.isArray(value)) return `[${value.map((item: CacheKey) => canonicalJson(item) ?? 'null').join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as { readonly [key: string]: CacheKey | undefined };
    const fields = Object.keys(record)
      .filter((name) => record[name] !== undefined)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(record[name])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function hashKey(namespace: string, key: CacheKey): string {
  return createHash('sha256').update(namespace).update('\0').update(canonicalJson(key)).digest('hex');
}

function describeKey(key: CacheKey): string {
  const text = canonicalJson(key);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
