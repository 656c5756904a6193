// What a cache store keeps: the interface the Cache (core/src/cache.ts) holds its entries behind,
// with one implementation per place they live (SqliteStore: a local file; RedisStore: a Redis
// shared by many processes and machines). Modes, TTL checks, usable(), single flight, size caps
// and compression live once in the Cache; a store only keeps and finds what it is handed.

export type CacheMeta = Record<string, unknown>;

/** How a stored body is encoded: as it came, or brotli-compressed. */
export type BodyEncoding = 'identity' | 'br';

/** One entry as a store keeps it: the body in its stored (maybe compressed) form. */
export interface StoredEntry {
  /** The stored bytes, `encoding`-encoded. */
  body: Buffer;
  encoding: BodyEncoding;
  meta: CacheMeta;
  createdAt: number;
  /** Null: never expires. */
  expiresAt: number | null;
}

export interface StoreWrite extends StoredEntry {
  /** The entry's key as canonical JSON (SQLite keeps it for inspection). */
  keyText: string;
  /** sha256 of the decoded body: the SQLite store keeps identical bodies once. */
  bodyHash: string;
  /** How long the entry lives, in ms, when the store can expire it itself (Redis); undefined: no expiry. */
  ttlMs: number | undefined;
}

export interface PruneResult {
  entries: number;
  /** Bodies removed (SQLite keeps identical bodies once; in Redis each entry has its own). */
  blobs: number;
  /** Stored bytes freed. */
  bytes: number;
}

export interface StoreStats {
  entries: number;
  /** Stored body bytes (after compression), each distinct body counted once. */
  bytes: number;
}

export interface CacheStore {
  readonly kind: 'sqlite' | 'redis';
  /** Where the entries are, for logs and `fathom doctor` (a Redis URL without its password). */
  readonly location: string;
  /** The entry, if the store has it (expired or not); with `touchAt`, records that access for LRU pruning. */
  get(namespace: string, keyHash: string, touchAt?: number): Promise<StoredEntry | undefined>;
  set(namespace: string, keyHash: string, entry: StoreWrite, now: number): Promise<void>;
  delete(namespace: string, keyHash: string): Promise<boolean>;
  /** Drops entries expired at `now`, then least-recently-accessed ones until stored bodies fit `maxBytes`. */
  prune(now: number, maxBytes: number | undefined): Promise<PruneResult>;
  stats(): Promise<StoreStats>;
  /** Resolves once the store answers (a Redis PING), or rejects with why not. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
