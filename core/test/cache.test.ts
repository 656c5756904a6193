import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { freePort, waitFor } from '../../tests/helpers.js';
import { skipWithoutRedis, startRedis } from '../../tests/services.js';
import type { RedisService } from '../../tests/services.js';
import { Cache, canonicalJson, redactRedisUrl } from '../src/cache.js';
import type { CacheOptions } from '../src/cache.js';
import { loadConfig, baseConfigSchema } from '../src/config.js';
import { openCache } from '../src/runtime.js';
import { isFathomError } from '../src/errors.js';
import { createLogger } from '../src/log.js';

// The cache's behaviour, run against both stores: the SQLite file and a Redis of the test's own.

type StoreKind = 'sqlite' | 'redis';

let dir: string;
let redis: RedisService | undefined;
const opened: Cache[] = [];

function clock(start = 1_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

function blobCount(): number {
  const db = new DatabaseSync(join(dir, 'cache.sqlite'), { readOnly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function logLines() {
  const lines: Array<{ level: string; msg: string } & Record<string, unknown>> = [];
  const logger = createLogger('cache', { level: 'debug', write: (line) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
  return { lines, logger };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-cache-'));
});

afterEach(async () => {
  for (const cache of opened.splice(0)) await cache.close();
  await redis?.stop();
  redis = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const KINDS: StoreKind[] = ['sqlite', 'redis'];

describe.each(KINDS)('Cache (%s)', (kind) => {
  if (kind === 'redis' && skipWithoutRedis()) return;

  beforeEach(async () => {
    if (kind === 'redis') redis = await startRedis();
  });

  function open(options: Partial<CacheOptions> = {}): Cache {
    const where = kind === 'redis' ? { url: redis!.url } : { path: join(dir, 'cache.sqlite') };
    const cache = Cache.open({ ...where, ...options });
    opened.push(cache);
    return cache;
  }

  it('stores text, JSON and metadata', async () => {
    const cache = kind === 'sqlite' ? Cache.open({ path: join(dir, 'a', 'b', 'cache.sqlite') }) : open();
    if (kind === 'sqlite') opened.push(cache);
    await cache.set('fetch', 'https://example.com/', JSON.stringify({ ok: true }), { meta: { contentType: 'application/json' } });
    const hit = await cache.get('fetch', 'https://example.com/');
    expect(hit?.json()).toEqual({ ok: true });
    expect(hit?.text()).toBe('{"ok":true}');
    expect(hit?.meta).toEqual({ contentType: 'application/json' });
    expect(hit?.fromCache).toBe(true);
  });

  it('expires entries after their TTL', async () => {
    const time = clock();
    const cache = open({ now: time.now, defaultTtlMs: 1000 });
    await cache.set('search', 'q', 'default ttl');
    await cache.set('search', 'long', 'own ttl', { ttlMs: 5000 });
    await cache.set('search', 'forever', 'no expiry', { ttlMs: Infinity });
    time.advance(999);
    expect((await cache.get('search', 'q'))?.text()).toBe('default ttl');
    time.advance(1);
    expect(await cache.get('search', 'q')).toBeUndefined();
    expect((await cache.get('search', 'long'))?.expiresAt).toBe(1_000_000 + 5000);
    time.advance(10_000);
    expect(await cache.get('search', 'long')).toBeUndefined();
    expect((await cache.get('search', 'forever'))?.expiresAt).toBeNull();
    expect((await cache.prune()).entries).toBe(2);
    expect((await cache.stats()).entries).toBe(1);
  });

  it('refreshes an expired entry through getOrSet', async () => {
    const time = clock();
    const cache = open({ now: time.now, defaultTtlMs: 1000 });
    let calls = 0;
    const produce = async () => `v${++calls}`;
    expect((await cache.getOrSet('ns', 'k', produce)).text()).toBe('v1');
    expect((await cache.getOrSet('ns', 'k', produce)).text()).toBe('v1');
    time.advance(1000);
    const refreshed = await cache.getOrSet('ns', 'k', produce);
    expect(refreshed.text()).toBe('v2');
    expect(refreshed.fromCache).toBe(false);
  });

  it.runIf(kind === 'sqlite')('stores identical bodies once and drops unused bodies on prune', async () => {
    const cache = open();
    await cache.set('fetch', 'a', 'same body');
    await cache.set('fetch', 'b', Buffer.from('same body'));
    await cache.set('fetch', 'c', 'other body');
    expect(blobCount()).toBe(2);
    expect(await cache.stats()).toMatchObject({ entries: 3, bytes: 'same body'.length + 'other body'.length });
    await cache.delete('fetch', 'a');
    await cache.delete('fetch', 'c');
    expect(await cache.prune()).toEqual({ entries: 0, blobs: 1, bytes: 'other body'.length });
    expect(blobCount()).toBe(1);
    expect((await cache.get('fetch', 'b'))?.text()).toBe('same body');
  });

  it('deletes an entry and its bytes', async () => {
    const cache = open();
    await cache.set('fetch', 'a', 'first body');
    await cache.set('fetch', 'b', 'second');
    expect(await cache.delete('fetch', 'a')).toBe(true);
    expect(await cache.delete('fetch', 'a')).toBe(false);
    await cache.prune();
    expect(await cache.stats()).toMatchObject({ entries: 1, bytes: 'second'.length });
    expect(await cache.get('fetch', 'a')).toBeUndefined();
    expect((await cache.get('fetch', 'b'))?.text()).toBe('second');
  });

  it('treats keys with the same fields in any order as one key', async () => {
    const cache = open();
    await cache.set('search', { query: 'fathom', page: 1, options: { lang: 'en', safe: true } }, 'results');
    expect((await cache.get('search', { options: { safe: true, lang: 'en' }, page: 1, query: 'fathom' }))?.text()).toBe('results');
    expect(await cache.get('search', { query: 'fathom', page: 2, options: { lang: 'en', safe: true } })).toBeUndefined();
    expect(await cache.get('other', { query: 'fathom', page: 1, options: { lang: 'en', safe: true } })).toBeUndefined();
  });

  it('replays a recording without calling the producer, whatever its age', async () => {
    const time = clock();
    const recorder = open({ mode: 'record', now: time.now, defaultTtlMs: 1000 });
    const live = vi.fn(async () => ({ body: '<html>live</html>', meta: { finalUrl: 'https://example.com/final' }, ttlMs: 10 }));
    await recorder.getOrSet('fetch', 'https://example.com/', live);
    await recorder.getOrSet('fetch', 'https://example.com/', live);
    expect(live).toHaveBeenCalledTimes(2);
    await recorder.close();

    time.advance(365 * 24 * 60 * 60 * 1000);
    const replayer = open({ mode: 'replay', now: time.now });
    const never = vi.fn(async () => 'should not run');
    const hit = await replayer.getOrSet('fetch', 'https://example.com/', never);
    expect(never).not.toHaveBeenCalled();
    expect(hit.text()).toBe('<html>live</html>');
    expect(hit.meta).toEqual({ finalUrl: 'https://example.com/final' });
    expect(hit.expiresAt).toBeNull();
  });

  it.runIf(kind === 'sqlite')('replays entries stored in normal mode even after they expire', async () => {
    const time = clock();
    await open({ now: time.now, defaultTtlMs: 10 }).set('search', 'q', 'old');
    time.advance(1000);
    const replayer = open({ mode: 'replay', now: time.now });
    expect((await replayer.getOrSet('search', 'q', async () => 'new')).text()).toBe('old');
    expect((await replayer.prune()).entries).toBe(0);
  });

  it.runIf(kind === 'redis')('lets Redis drop expired normal-mode entries, so replay finds only recorded or fresh ones', async () => {
    await open({ defaultTtlMs: 50 }).set('search', 'q', 'short-lived');
    await open({ defaultTtlMs: 60_000 }).set('search', 'fresh', 'still here');
    await new Promise((resolve) => setTimeout(resolve, 120));
    const replayer = open({ mode: 'replay' });
    expect((await replayer.getOrSet('search', 'fresh', async () => 'live')).text()).toBe('still here');
    const error = await replayer.getOrSet('search', 'q', async () => 'live').catch((e: unknown) => e);
    expect(isFathomError(error, 'not_found')).toBe(true);
  });

  it('fails clearly on a replay miss', async () => {
    const replayer = open({ mode: 'replay' });
    const produce = vi.fn(async () => 'live');
    const error = await replayer.getOrSet('search', { query: 'missing' }, produce).catch((e: unknown) => e);
    expect(isFathomError(error, 'not_found')).toBe(true);
    expect((error as Error).message).toMatch(/Not in the recording: search .*missing/);
    expect(isFathomError(error) && error.hint).toMatch(/FATHOM_CACHE_MODE=record/);
    expect(produce).not.toHaveBeenCalled();
  });

  it('never reads or writes in off mode', async () => {
    await open().set('ns', 'k', 'stored before');
    const off = open({ mode: 'off' });
    let calls = 0;
    const produce = async () => `live ${++calls}`;
    expect((await off.getOrSet('ns', 'k', produce)).text()).toBe('live 1');
    expect((await off.getOrSet('ns', 'k', produce)).text()).toBe('live 2');
    expect(await off.get('ns', 'k')).toBeUndefined();
    await off.set('ns', 'other', 'x');
    expect((await off.stats()).entries).toBe(0);
    expect(await open().get('ns', 'other')).toBeUndefined();
    expect((await open().stats()).entries).toBe(1);
  });

  it('shares one producer call among parallel getOrSet calls for a key', async () => {
    const cache = open();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const produce = vi.fn(async () => {
      await gate;
      return { body: 'once', meta: { n: 1 } };
    });
    const calls = Array.from({ length: 10 }, () => cache.getOrSet('fetch', { url: 'u' }, produce));
    release();
    const hits = await Promise.all(calls);
    expect(produce).toHaveBeenCalledTimes(1);
    expect(hits.map((hit) => hit.text())).toEqual(Array(10).fill('once'));
    expect((await cache.getOrSet('fetch', { url: 'u' }, produce)).fromCache).toBe(true);
  });

  it(`sees writes from another instance on the same ${kind === 'sqlite' ? 'file' : 'Redis'}`, async () => {
    const first = open();
    const second = open();
    await first.set('fetch', 'a', 'from first');
    expect((await second.get('fetch', 'a'))?.text()).toBe('from first');
    await second.getOrSet('fetch', 'b', async () => 'from second');
    const produce = vi.fn(async () => 'not needed');
    expect((await first.getOrSet('fetch', 'b', produce)).text()).toBe('from second');
    expect(produce).not.toHaveBeenCalled();
  });

  it('evicts the least recently used entries to fit maxBytes', async () => {
    const time = clock();
    const cache = open({ now: time.now, maxBytes: 250 });
    for (const name of ['a', 'b', 'c']) {
      await cache.set('ns', name, name.repeat(100));
      time.advance(10);
    }
    expect(await cache.get('ns', 'a')).toBeDefined();
    expect(await cache.prune()).toEqual({ entries: 1, blobs: 1, bytes: 100 });
    expect(await cache.get('ns', 'b')).toBeUndefined();
    expect((await cache.get('ns', 'a'))?.text()).toBe('a'.repeat(100));
    expect((await cache.get('ns', 'c'))?.text()).toBe('c'.repeat(100));
    expect((await cache.stats()).bytes).toBe(200);
  });

  it('prunes by itself after writes when maxBytes and an interval are set', async () => {
    const time = clock();
    const cache = open({ now: time.now, maxBytes: 1000, pruneEveryMs: 60_000 });
    for (let i = 0; i < 30; i++) {
      await cache.set('ns', `k${i}`, randomBytes(100));
      time.advance(61_000);
    }
    await cache.close();
    const check = open({ now: time.now, maxBytes: 1000 });
    const { bytes } = await check.stats();
    expect(bytes).toBeLessThanOrEqual(1100);
    expect((await check.get('ns', 'k29'))?.body.length).toBe(100);
    expect(await check.get('ns', 'k0')).toBeUndefined();
  });

  it('stores a large body compressed and reads it back identical; an incompressible one as it is', async () => {
    const cache = open();
    const page = Array.from({ length: 4000 }, (_, i) => `<li><a href="/item/${i}">Item number ${i}</a> — some repeated text</li>`).join('\n');
    await cache.set('fetch', 'page', page);
    const stored = (await cache.stats()).bytes;
    expect(stored).toBeLessThan(Buffer.byteLength(page) / 4);
    expect((await cache.get('fetch', 'page'))?.text()).toBe(page);

    const noise = randomBytes(300_000);
    await cache.set('fetch', 'noise', noise);
    expect((await cache.stats()).bytes - stored).toBe(noise.length);
    expect((await cache.get('fetch', 'noise'))?.body.equals(noise)).toBe(true);

    const small = 'x'.repeat(1000);
    await cache.set('fetch', 'small', small);
    expect((await cache.stats()).bytes - stored - noise.length).toBe(1000);
  });

  it('does not keep a body over the per-entry cap, and says so', async () => {
    const { lines, logger } = logLines();
    const cache = open({ maxEntryBytes: 10_000, logger });
    const big = randomBytes(20_000);
    let calls = 0;
    const produce = async () => {
      calls++;
      return big;
    };
    expect((await cache.getOrSet('fetch', 'big', produce)).body.equals(big)).toBe(true);
    expect((await cache.getOrSet('fetch', 'big', produce)).fromCache).toBe(false);
    expect(calls).toBe(2);
    expect(await cache.set('fetch', 'big', big)).toBeUndefined();
    expect(await cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect(lines.filter((line) => line.msg === 'not cached: too large')[0]).toMatchObject({ level: 'warn', namespace: 'fetch', bytes: 20_000, maxEntryBytes: 10_000 });
    // Compressed below the cap, a larger text is kept.
    const text = 'all work and no play '.repeat(2000);
    await cache.set('fetch', 'text', text);
    expect((await cache.get('fetch', 'text'))?.text()).toBe(text);
  });

  it('stores nothing when the producer throws, and lets the error through', async () => {
    const cache = open();
    const failure = new Error('upstream down');
    await expect(cache.getOrSet('fetch', 'k', async () => Promise.reject(failure))).rejects.toBe(failure);
    await expect(
      cache.getOrSet('fetch', 'k', () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect((await cache.getOrSet('fetch', 'k', async () => 'recovered')).text()).toBe('recovered');
  });

  it('keeps nothing for a zero TTL and counts hits and misses', async () => {
    const cache = open();
    const hit = await cache.getOrSet('fetch', 'k', async () => ({ body: 'transient', ttlMs: 0 }));
    expect(hit.text()).toBe('transient');
    expect(await cache.get('fetch', 'k')).toBeUndefined();
    await cache.set('fetch', 'j', 'kept');
    await cache.get('fetch', 'j');
    expect(await cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2 });
  });

  it.runIf(kind === 'sqlite')('reads a cache file written before bodies were compressed, and adds to it', async () => {
    const path = join(dir, 'cache.sqlite');
    const db = new DatabaseSync(path);
    db.exec(`CREATE TABLE blobs (hash TEXT PRIMARY KEY, body BLOB NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE entries (namespace TEXT NOT NULL, key_hash TEXT NOT NULL, key TEXT NOT NULL, blob_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER, last_access INTEGER NOT NULL, size INTEGER NOT NULL, meta TEXT NOT NULL,
        PRIMARY KEY (namespace, key_hash)) WITHOUT ROWID;`);
    // What an older Fathom wrote: a plain 10 KB body, recorded.
    const old = 'x'.repeat(10_000);
    const keyHash = createHash('sha256').update('fetch').update('\0').update(canonicalJson('old')).digest('hex');
    db.prepare('INSERT INTO blobs VALUES (?, ?, ?)').run('b1', Buffer.from(old), old.length);
    db.prepare('INSERT INTO entries VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)').run('fetch', keyHash, '"old"', 'b1', 1, 1, old.length, '{}');
    db.close();
    const cache = open();
    expect((await cache.get('fetch', 'old'))?.text()).toBe(old);
    await cache.set('fetch', 'new', old);
    expect((await cache.get('fetch', 'new'))?.text()).toBe(old);
    expect((await cache.stats()).bytes).toBeLessThan(old.length + 200);
  });

  it.runIf(kind === 'sqlite')('works in memory', async () => {
    const cache = Cache.open({ path: ':memory:' });
    opened.push(cache);
    await cache.set('ns', 'k', 'v');
    expect((await cache.get('ns', 'k'))?.text()).toBe('v');
  });
});

describe('Cache on Redis', () => {
  if (skipWithoutRedis()) return;

  it('answers live while Redis is down, warns once, and caches again once it is back', async () => {
    redis = await startRedis();
    const { lines, logger } = logLines();
    const cache = Cache.open({ url: redis.url, logger, redisTimeoutMs: 1000 });
    opened.push(cache);
    let calls = 0;
    const produce = async () => `live ${++calls}`;
    expect((await cache.getOrSet('fetch', 'a', produce)).text()).toBe('live 1');
    expect((await cache.getOrSet('fetch', 'a', produce)).fromCache).toBe(true);

    await redis.kill();
    const started = Date.now();
    for (let i = 0; i < 5; i++) {
      const hit = await cache.getOrSet('fetch', 'a', produce);
      expect(hit.fromCache).toBe(false);
    }
    expect(calls).toBe(6);
    // Bounded: at most one command timeout, not one per call.
    expect(Date.now() - started).toBeLessThan(2500);
    const warnings = lines.filter((line) => line.level === 'warn' && line.msg !== 'cache available again');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ msg: expect.stringMatching(/cache unavailable/), store: 'redis' });
    expect(await cache.get('fetch', 'a')).toBeUndefined();
    expect(await cache.delete('fetch', 'a')).toBe(false);

    await redis.start();
    await waitFor(async () => (await cache.set('fetch', 'b', 'back')) !== undefined, 10_000, 'the cache to write to Redis again');
    expect((await cache.get('fetch', 'b'))?.text()).toBe('back');
    expect(lines.some((line) => line.msg === 'cache available again')).toBe(true);
    // The restarted Redis is empty: the first call is live, the next one is cached.
    expect((await cache.getOrSet('fetch', 'a', produce)).text()).toBe('live 7');
    expect((await cache.getOrSet('fetch', 'a', produce)).fromCache).toBe(true);
  });

  it('answers live when Redis was never there, and replay says the cache cannot be read', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}/0`;
    const { logger } = logLines();
    const cache = Cache.open({ url, logger, redisTimeoutMs: 500 });
    opened.push(cache);
    const started = Date.now();
    expect((await cache.getOrSet('fetch', 'a', async () => 'live')).text()).toBe('live');
    expect((await cache.getOrSet('fetch', 'a', async () => 'live again')).text()).toBe('live again');
    expect(Date.now() - started).toBeLessThan(1500);
    const replay = Cache.open({ url, logger, mode: 'replay', redisTimeoutMs: 500 });
    opened.push(replay);
    const error = await replay.getOrSet('fetch', 'a', async () => 'never').catch((e: unknown) => e);
    expect(isFathomError(error, 'unavailable')).toBe(true);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('keeps its keys under the prefix, the password out of logs, and the TTL in Redis', async () => {
    redis = await startRedis();
    const cache = Cache.open({ url: redis.url, redisPrefix: 'test:one:' });
    opened.push(cache);
    await cache.set('fetch', { url: 'https://example.com/' }, 'body', { ttlMs: 60_000 });
    await cache.set('search', 'q', 'recorded', { ttlMs: Infinity });
    const other = Cache.open({ url: redis.url, redisPrefix: 'test:two:' });
    opened.push(other);
    expect(await other.get('fetch', { url: 'https://example.com/' })).toBeUndefined();
    const { Redis } = await import('ioredis');
    const client = new Redis(redis.url);
    try {
      const keys = (await client.keys('*')).sort();
      expect(keys.every((key) => key.startsWith('test:one:'))).toBe(true);
      const entries = keys.filter((key) => key.startsWith('test:one:e:'));
      expect(entries).toHaveLength(2);
      const fetchKey = entries.find((key) => key.startsWith('test:one:e:fetch:'))!;
      expect(fetchKey).toMatch(/^test:one:e:fetch:[0-9a-f]{64}$/);
      const ttl = await client.pttl(fetchKey);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
      expect(await client.pttl(entries.find((key) => key.startsWith('test:one:e:search:'))!)).toBe(-1);
    } finally {
      client.disconnect();
    }
    expect(redactRedisUrl('redis://:hunter2@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
  });

  it('drops the size index lines of entries Redis expired, and opens from the config as the servers do', async () => {
    redis = await startRedis();
    const config = loadConfig(baseConfigSchema, { server: 'search', flags: { 'cache-url': redis.url, 'cache-entry-max-mb': '1' }, env: {}, cwd: dir });
    const cache = openCache(config);
    opened.push(cache);
    expect(cache.store.kind).toBe('redis');
    // The first write starts a background prune (the servers prune every minute); the short entry comes after it.
    await cache.set('fetch', 'long', 'stays');
    await cache.set('fetch', 'short', 'gone soon', { ttlMs: 30 });
    expect(await cache.set('fetch', 'big', randomBytes(2 * 1024 * 1024))).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await cache.get('fetch', 'short')).toBeUndefined();
    expect((await cache.stats()).entries).toBe(2);
    expect(await cache.prune()).toMatchObject({ entries: 1 });
    expect(await cache.stats()).toMatchObject({ entries: 1, bytes: 'stays'.length });
  });
});

describe('Cache URL', () => {
  it('refuses a URL that is not redis:// or rediss://, at start', () => {
    for (const url of ['http://127.0.0.1:6379', 'redis:/nohost', 'localhost:6379', 'redis://127.0.0.1:6379/cache']) {
      const error = (() => {
        try {
          Cache.open({ url });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(isFathomError(error, 'invalid_config'), url).toBe(true);
      const config = (() => {
        try {
          loadConfig(baseConfigSchema, { server: 'search', env: { FATHOM_CACHE_URL: url }, cwd: dir });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(isFathomError(config, 'invalid_config'), url).toBe(true);
      expect((config as Error).message).toContain('cacheUrl');
    }
    expect(loadConfig(baseConfigSchema, { server: 'search', flags: { 'cache-url': 'rediss://cache.internal:6380/2' }, cwd: dir }).cacheUrl).toBe('rediss://cache.internal:6380/2');
  });
});
