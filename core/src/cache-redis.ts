import { Redis } from 'ioredis';
import type { BodyEncoding, CacheMeta, CacheStore, PruneResult, StoreStats, StoreWrite, StoredEntry } from './cache-store.js';
import { FathomError } from './errors.js';
import type { Logger } from './log.js';

// The cache in a Redis that many server processes share, on one machine or many: a page fetched
// or a query run by one is served to all. How it is kept:
//
// - One Redis string per entry, `<prefix>e:<namespace>:<key hash>` (the hash is the Cache's
//   sha256 of namespace and canonical key): a small header (meta, created/expiry times, encoding)
//   and the body, read and written whole in one command. Bodies are not shared between entries as
//   in SQLite: each entry must expire on its own, and counting references across writers would
//   need a script on every read.
// - Normal mode: the key carries a Redis expiry (PX) of the entry's TTL, so Redis drops what is
//   stale by itself. Record mode: no expiry, so a recording stays whole. (So, unlike SQLite, a
//   replay over Redis finds only the normal-mode entries that have not expired yet: record first.)
// - Sizes for the total cap: `<prefix>lru` (sorted set: entry -> last access, updated on every hit
//   in normal mode), `<prefix>size` (hash: entry -> stored bytes), `<prefix>exp` (sorted set:
//   entry -> expiry time) and `<prefix>bytes` (the sum). Writes, deletes and pruning are Lua
//   scripts, each atomic in Redis, so any number of writers on any machines keep these four
//   consistent with each other. Pruning drops expired entries, then the least recently used until
//   `<prefix>bytes` fits maxBytes, in batches of PRUNE_BATCH per script so Redis is never blocked
//   long; two processes pruning at once each re-check the total inside their script, so they do
//   not evict more than needed. An entry Redis expired or evicted (a `maxmemory` policy) stays
//   in the index, counted in `stats()`, until pruning reaches it (every minute in the servers).
// - Single flight is per process (the Cache's): two processes missing the same key at the same
//   moment both produce it, and the last write wins (both values are good). Across processes a
//   page is fetched once unless two ask for it within one fetch time of each other.
// - One Redis, or a primary with replicas: the scripts touch keys they compute, which Redis
//   Cluster does not allow. The local search index (search-index.sqlite) stays on each machine.
// - When Redis cannot be reached, every command fails within the command timeout, and while the
//   connection is known to be down, at once; the Cache treats that as a miss or a dropped write.
//   ioredis reconnects in the background (every 100 ms to 2 s) and its offline queue holds a
//   command at most `timeoutMs`.

/** Entries evicted per pruning script. */
const PRUNE_BATCH = 256;

// KEYS: entry, lru, size, exp, bytes. ARGV: value, ttl ms (0: none), member, now, stored size, expiry ('' : none).
const SET_SCRIPT = `
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1]) end
local old = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
redis.call('INCRBY', KEYS[5], tonumber(ARGV[5]) - old)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
if ARGV[6] ~= '' then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[3]) else redis.call('ZREM', KEYS[4], ARGV[3]) end
return 1
`;

const DROP_FUNCTION = `
local function drop(member)
  local size = tonumber(redis.call('HGET', KEYS[2], member) or '0')
  local existed = redis.call('DEL', ARGV[1] .. member)
  redis.call('HDEL', KEYS[2], member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZREM', KEYS[3], member)
  redis.call('DECRBY', KEYS[4], size)
  return existed, size
end
`;

// KEYS: lru, size, exp, bytes. ARGV: entry key prefix, member.
const DELETE_SCRIPT = `${DROP_FUNCTION}
local existed = drop(ARGV[2])
return existed
`;

// KEYS: lru, size, exp, bytes. ARGV: entry key prefix, now, maxBytes ('' : none), batch.
// Returns {entries removed, bytes freed, 1 when more is left to do}.
const PRUNE_SCRIPT = `${DROP_FUNCTION}
local batch = tonumber(ARGV[4])
local removed, freed, more = 0, 0, 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2], 'LIMIT', 0, batch)
for _, member in ipairs(expired) do
  local _, size = drop(member)
  removed = removed + 1
  freed = freed + size
end
if #expired == batch then more = 1 end
if ARGV[3] ~= '' and more == 0 then
  local max = tonumber(ARGV[3])
  while removed < batch and tonumber(redis.call('GET', KEYS[4]) or '0') > max do
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)
    if #oldest == 0 then break end
    local _, size = drop(oldest[1])
    removed = removed + 1
    freed = freed + size
  end
  if tonumber(redis.call('GET', KEYS[4]) or '0') > max and redis.call('ZCARD', KEYS[1]) > 0 then more = 1 end
end
return {removed, freed, more}
`;

interface ScriptCommands {
  fathomCacheSet(...args: Array<string | Buffer | number>): Promise<number>;
  fathomCacheDelete(...args: Array<string | number>): Promise<number>;
  fathomCachePrune(...args: Array<string | number>): Promise<[number, number, number]>;
}

interface Header {
  meta: CacheMeta;
  createdAt: number;
  expiresAt: number | null;
  encoding: BodyEncoding;
}

export const REDIS_URL_PROTOCOLS = ['redis:', 'rediss:'];

/** The URL without its password, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href;
  } catch {
    return '(unparseable URL)';
  }
}

/** Throws a config error unless `url` is a redis:// or rediss:// URL. */
export function checkRedisUrl(url: string, from = 'the cache URL'): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !REDIS_URL_PROTOCOLS.includes(parsed.protocol) || !parsed.hostname) {
    throw new FathomError('invalid_config', `${from} is not a Redis URL: ${redactRedisUrl(url)}`, {
      hint: 'Write redis://HOST:PORT/DB (or rediss:// for TLS), e.g. redis://127.0.0.1:6379/0; a password goes in redis://:PASSWORD@HOST:PORT/DB.',
    });
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) {
    throw new FathomError('invalid_config', `${from} names database "${db}": Redis databases are numbers`, { hint: 'e.g. redis://127.0.0.1:6379/0' });
  }
}

export interface RedisStoreOptions {
  url: string;
  /** Every key starts with it. Default `fathom:cache:`. */
  prefix?: string;
  /** Longest wait for one command, the connection included. Default 2000 ms. */
  timeoutMs?: number;
  logger: Logger;
}

export class RedisStore implements CacheStore {
  readonly kind = 'redis';
  readonly location: string;
  private readonly redis: Redis & ScriptCommands;
  private readonly prefix: string;
  private readonly keys: { lru: string; size: string; exp: string; bytes: string };
  /** Set once the connection is lost (or never made), cleared when it is ready again. */
  private down = false;
  /** Why the last connection attempt failed, for errors that would otherwise say only "retries exhausted". */
  private lastError: string | undefined;

  constructor(options: RedisStoreOptions) {
    checkRedisUrl(options.url);
    this.location = redactRedisUrl(options.url);
    this.prefix = options.prefix ?? 'fathom:cache:';
    this.keys = { lru: `${this.prefix}lru`, size: `${this.prefix}size`, exp: `${this.prefix}exp`, bytes: `${this.prefix}bytes` };
    const timeoutMs = options.timeoutMs ?? 2000;
    const redis = new Redis(options.url, {
      commandTimeout: timeoutMs,
      connectTimeout: timeoutMs,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 2000),
      enableOfflineQueue: true,
      lazyConnect: false,
    });
    redis.defineCommand('fathomCacheSet', { numberOfKeys: 5, lua: SET_SCRIPT });
    redis.defineCommand('fathomCacheDelete', { numberOfKeys: 4, lua: DELETE_SCRIPT });
    redis.defineCommand('fathomCachePrune', { numberOfKeys: 4, lua: PRUNE_SCRIPT });
    // The Cache logs an outage once; ioredis would print every failed reconnection without a listener.
    redis.on('error', (error: Error) => {
      this.down = true;
      this.lastError = error.message || (error as NodeJS.ErrnoException).code || String(error);
      options.logger.debug('redis error', { location: this.location, error: error.message });
    });
    redis.on('close', () => (this.down = true));
    redis.on('ready', () => {
      this.down = false;
      this.lastError = undefined;
    });
    this.redis = redis as Redis & ScriptCommands;
  }

  async get(namespace: string, keyHash: string, touchAt?: number): Promise<StoredEntry | undefined> {
    this.ready();
    const member = `${namespace}:${keyHash}`;
    let value: Buffer | null;
    if (touchAt === undefined) {
      value = await this.redis.getBuffer(this.entryKey(member));
    } else {
      // One round trip: the read and the access time (XX: only for an entry the index knows).
      const results = await this.redis.pipeline().getBuffer(this.entryKey(member)).zadd(this.keys.lru, 'XX', touchAt, member).exec();
      const [read] = results ?? [];
      if (!read || read[0]) throw read?.[0] ?? new Error('no reply');
      value = read[1] as Buffer | null;
    }
    return value ? decodeEntry(value) : undefined;
  }

  async set(namespace: string, keyHash: string, entry: StoreWrite, now: number): Promise<void> {
    this.ready();
    const member = `${namespace}:${keyHash}`;
    const ttl = entry.ttlMs === undefined ? 0 : Math.max(1, Math.ceil(entry.ttlMs));
    await this.redis.fathomCacheSet(
      this.entryKey(member),
      this.keys.lru,
      this.keys.size,
      this.keys.exp,
      this.keys.bytes,
      encodeEntry(entry),
      ttl,
      member,
      now,
      entry.body.length,
      entry.expiresAt === null ? '' : entry.expiresAt,
    );
  }

  async delete(namespace: string, keyHash: string): Promise<boolean> {
    this.ready();
    const { lru, size, exp, bytes } = this.keys;
    return (await this.redis.fathomCacheDelete(lru, size, exp, bytes, `${this.prefix}e:`, `${namespace}:${keyHash}`)) === 1;
  }

  async prune(now: number, maxBytes: number | undefined): Promise<PruneResult> {
    this.ready();
    const removed: PruneResult = { entries: 0, blobs: 0, bytes: 0 };
    const { lru, size, exp, bytes } = this.keys;
    for (;;) {
      const [entries, freed, more] = await this.redis.fathomCachePrune(lru, size, exp, bytes, `${this.prefix}e:`, now, maxBytes ?? '', PRUNE_BATCH);
      removed.entries += entries;
      removed.blobs += entries;
      removed.bytes += freed;
      if (!more) return removed;
    }
  }

  async stats(): Promise<StoreStats> {
    this.ready();
    const [entries, bytes] = await Promise.all([this.redis.zcard(this.keys.lru), this.redis.get(this.keys.bytes)]);
    return { entries, bytes: Number(bytes ?? 0) };
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (error) {
      throw new FathomError('unavailable', this.lastError ?? (error as Error).message);
    }
  }

  async close(): Promise<void> {
    if (this.redis.status === 'end') return;
    if (this.redis.status !== 'ready') {
      this.redis.disconnect();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.redis.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
    ]);
    clearTimeout(timer);
    this.redis.disconnect();
  }

  /** Fails at once while the connection is known to be down, instead of queueing for the timeout. */
  private ready(): void {
    if (this.down && this.redis.status !== 'ready') {
      throw new FathomError('unavailable', `Redis at ${this.location} is not reachable (${this.lastError ?? this.redis.status})`);
    }
  }

  private entryKey(member: string): string {
    return `${this.prefix}e:${member}`;
  }
}

/** [4-byte header length][header JSON][body]: one value, read in one GET. */
function encodeEntry(entry: StoreWrite): Buffer {
  const header: Header = { meta: entry.meta, createdAt: entry.createdAt, expiresAt: entry.expiresAt, encoding: entry.encoding };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([length, json, entry.body]);
}

function decodeEntry(value: Buffer): StoredEntry {
  const length = value.readUInt32BE(0);
  const header = JSON.parse(value.subarray(4, 4 + length).toString('utf8')) as Header;
  return { ...header, body: value.subarray(4 + length) };
}
