import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DatabaseSync, type Statement, StatementCache, blobBuffer, openSqlite, transaction } from './sqlite.js';
import { FathomError, errorMessage } from './errors.js';
import { createLogger } from './log.js';

export const CACHE_MODES = ['normal', 'record', 'replay', 'off'] as const;
/**
 * - normal: fresh entries are served; misses and expired entries are produced and stored.
 * - record: always goes live and stores every result without expiry, capturing a run whole.
 * - replay: never goes live; serves stored entries whatever their age; a miss is an error.
 * - off: never reads or writes.
 */
export type CacheMode = (typeof CACHE_MODES)[number];

export interface CacheOptions {
  /** A file path (parent directories are created), or ':memory:'. */
  path: string;
  mode?: CacheMode;
  /** Used when a write names no TTL. Default one day; `Infinity` means never expire. */
  defaultTtlMs?: number;
  /** `prune()` evicts least-recently-accessed entries until stored bodies fit. */
  maxBytes?: number;
  now?: () => number;
}

/** Any JSON-like value; object key order does not matter. */
export type CacheKey = string | number | boolean | null | readonly CacheKey[] | { readonly [key: string]: CacheKey | undefined };

export type CacheMeta = Record<string, unknown>;

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
  /** Stored body bytes, each distinct body counted once. */
  bytes: number;
  /** Counted by this instance since it opened. */
  hits: number;
  misses: number;
}

export interface PruneResult {
  entries: number;
  blobs: number;
  bytes: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blobs (
  hash TEXT PRIMARY KEY,
  body BLOB NOT NULL,
  size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  namespace TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  key TEXT NOT NULL,
  blob_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_access INTEGER NOT NULL,
  size INTEGER NOT NULL,
  meta TEXT NOT NULL,
  PRIMARY KEY (namespace, key_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_blob ON entries (blob_hash);
CREATE INDEX IF NOT EXISTS entries_access ON entries (last_access);
`;

interface EntryRow {
  body: Uint8Array;
  meta: string;
  created_at: number;
  expires_at: number | null;
}

const log = createLogger('cache');

export class Cache {
  readonly mode: CacheMode;
  private readonly db: DatabaseSync;
  private readonly now: () => number;
  private readonly defaultTtlMs: number;
  private readonly maxBytes: number | undefined;
  private readonly statements: StatementCache;
  private readonly inFlight = new Map<string, Promise<CacheHit>>();
  private hits = 0;
  private misses = 0;

  private constructor(db: DatabaseSync, options: CacheOptions) {
    this.db = db;
    this.statements = new StatementCache(db);
    this.mode = options.mode ?? 'normal';
    this.now = options.now ?? Date.now;
    this.defaultTtlMs = options.defaultTtlMs ?? DAY_MS;
    this.maxBytes = options.maxBytes;
  }

  static open(options: CacheOptions): Cache {
    const mode = options.mode ?? 'normal';
    if (!CACHE_MODES.includes(mode)) {
      throw new FathomError('invalid_argument', `Unknown cache mode "${String(mode)}".`, { hint: `Use one of: ${CACHE_MODES.join(', ')}.` });
    }
    // Off mode touches no file at all.
    const path = mode === 'off' ? ':memory:' : options.path;
    let db: DatabaseSync;
    try {
      if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
      db = openSqlite(path, { timeoutMs: 5000 });
      try {
        db.exec(SCHEMA);
      } catch (error) {
        db.close();
        throw error;
      }
    } catch (cause) {
      throw new FathomError('unavailable', `Cannot open the cache at ${path}: ${errorMessage(cause)}`, {
        hint: 'Check that the cache directory is writable, or set FATHOM_CACHE_MODE=off.',
        cause,
      });
    }
    return new Cache(db, { ...options, mode });
  }

  /** A stored entry that this mode may serve (fresh in normal mode, any age in replay), else undefined. */
  get(namespace: string, key: CacheKey, { usable }: CacheReadOptions = {}): CacheHit | undefined {
    if (this.mode === 'off' || this.mode === 'record') return undefined;
    const keyHash = hashKey(namespace, key);
    const row = this.sql<[string, string], EntryRow>(
      `SELECT b.body, e.meta, e.created_at, e.expires_at FROM entries e JOIN blobs b ON b.hash = e.blob_hash
       WHERE e.namespace = ? AND e.key_hash = ?`,
    ).get(namespace, keyHash);
    const now = this.now();
    const hit = row && makeHit(blobBuffer(row.body), JSON.parse(row.meta) as CacheMeta, row.created_at, row.expires_at, true);
    if (!hit || (this.mode === 'normal' && hit.expiresAt !== null && hit.expiresAt <= now) || (usable && !usable(hit))) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (this.mode === 'normal') {
      this.sql('UPDATE entries SET last_access = ? WHERE namespace = ? AND key_hash = ?').run(now, namespace, keyHash);
    }
    return hit;
  }

  /** Stores `body` under the key. Returns what was stored, or undefined when this mode or a zero TTL keeps nothing. */
  set(namespace: string, key: CacheKey, body: Buffer | string, options: CacheWriteOptions = {}): CacheHit | undefined {
    if (this.mode === 'off' || this.mode === 'replay') return undefined;
    const ttlMs = this.mode === 'record' ? Infinity : (options.ttlMs ?? this.defaultTtlMs);
    if (ttlMs <= 0) return undefined;
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const meta = options.meta ?? {};
    const blobHash = createHash('sha256').update(bytes).digest('hex');
    const now = this.now();
    const expiresAt = Number.isFinite(ttlMs) ? now + ttlMs : null;
    transaction(
      this.db,
      () => {
        this.sql('INSERT OR IGNORE INTO blobs (hash, body, size) VALUES (?, ?, ?)').run(blobHash, bytes, bytes.length);
        this.sql(
          `INSERT OR REPLACE INTO entries (namespace, key_hash, key, blob_hash, created_at, expires_at, last_access, size, meta)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(namespace, hashKey(namespace, key), canonicalJson(key), blobHash, now, expiresAt, now, bytes.length, JSON.stringify(meta));
      },
      { immediate: true },
    );
    return makeHit(bytes, meta, now, expiresAt, false);
  }

  /**
   * The cached value, or the producer's (stored per the mode). Concurrent calls for one key in this
   * process share a single producer call. A producer that throws stores nothing.
   */
  async getOrSet(
    namespace: string,
    key: CacheKey,
    produce: () => Promise<Produced>,
    { usable, ...options }: CacheWriteOptions & CacheReadOptions = {},
  ): Promise<CacheHit> {
    const cached = this.get(namespace, key, usable ? { usable } : {});
    if (cached) return cached;
    if (this.mode === 'replay') {
      throw new FathomError('not_found', `Not in the recording: ${namespace} ${describeKey(key)}.`, {
        hint: 'This run replays a recording (FATHOM_CACHE_MODE=replay); record it first with FATHOM_CACHE_MODE=record, or switch to normal mode.',
        details: { namespace, key },
      });
    }
    const flightKey = `${namespace}\0${hashKey(namespace, key)}`;
    const pending = this.inFlight.get(flightKey);
    if (pending) return pending;
    // Deferred a tick so the in-flight entry exists before the producer can settle, even synchronously.
    const run = Promise.resolve()
      .then(produce)
      .then((produced) => {
        const { body, ...write } = typeof produced === 'string' || Buffer.isBuffer(produced) ? { body: produced } : produced;
        const merged = { ...options, ...write, meta: { ...options.meta, ...write.meta } };
        const stored = this.set(namespace, key, body, merged);
        return stored ?? makeHit(typeof body === 'string' ? Buffer.from(body) : body, merged.meta, this.now(), null, false);
      })
      .finally(() => this.inFlight.delete(flightKey));
    this.inFlight.set(flightKey, run);
    return run;
  }

  delete(namespace: string, key: CacheKey): boolean {
    if (this.mode === 'off' || this.mode === 'replay') return false;
    const result = this.sql('DELETE FROM entries WHERE namespace = ? AND key_hash = ?').run(namespace, hashKey(namespace, key));
    return result.changes > 0;
  }

  /**
   * Drops expired entries, then (with `maxBytes`) least-recently-accessed ones until the stored
   * bodies fit, then bodies no entry uses. Does nothing in replay or off mode: a recording is kept whole.
   */
  prune(): PruneResult {
    const removed: PruneResult = { entries: 0, blobs: 0, bytes: 0 };
    if (this.mode === 'off' || this.mode === 'replay') return removed;
    transaction(
      this.db,
      () => {
        removed.entries += this.sql('DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?').run(this.now()).changes;
        const dropOrphans = () => {
          const freed = this.sql('DELETE FROM blobs WHERE hash NOT IN (SELECT blob_hash FROM entries) RETURNING size').all() as Array<{ size: number }>;
          removed.blobs += freed.length;
          for (const blob of freed) removed.bytes += blob.size;
        };
        dropOrphans();
        if (this.maxBytes === undefined) return;
        const oldest = this.sql<[], { namespace: string; key_hash: string; blob_hash: string }>(
          'SELECT namespace, key_hash, blob_hash FROM entries ORDER BY last_access ASC LIMIT 1',
        );
        const deleteEntry = this.sql('DELETE FROM entries WHERE namespace = ? AND key_hash = ?');
        const deleteUnusedBlob = this.sql<[string, string]>(
          'DELETE FROM blobs WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM entries WHERE blob_hash = ?) RETURNING size',
        );
        let bytes = this.storedBytes();
        while (bytes > this.maxBytes) {
          const victim = oldest.get();
          if (!victim) break;
          removed.entries += deleteEntry.run(victim.namespace, victim.key_hash).changes;
          const freed = deleteUnusedBlob.get(victim.blob_hash, victim.blob_hash) as { size: number } | undefined;
          if (freed) {
            bytes -= freed.size;
            removed.blobs++;
            removed.bytes += freed.size;
          }
        }
      },
      { immediate: true },
    );
    if (removed.entries > 0 || removed.blobs > 0) log.debug('pruned', { ...removed });
    return removed;
  }

  stats(): CacheStats {
    const entries = this.sql<[], { n: number }>('SELECT count(*) AS n FROM entries').get()?.n ?? 0;
    return { entries, bytes: this.storedBytes(), hits: this.hits, misses: this.misses };
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private sql<P extends unknown[] = unknown[], R = unknown>(text: string): Statement<P, R> {
    return this.statements.sql<P, R>(text);
  }

  private storedBytes(): number {
    return this.sql<[], { bytes: number | null }>('SELECT sum(size) AS bytes FROM blobs').get()?.bytes ?? 0;
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
