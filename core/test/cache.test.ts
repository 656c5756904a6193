import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Cache } from '../src/cache.js';
import type { CacheOptions } from '../src/cache.js';
import { isFathomError } from '../src/errors.js';

let dir: string;
const opened: Cache[] = [];

function open(options: Partial<CacheOptions> = {}): Cache {
  const cache = Cache.open({ path: join(dir, 'cache.sqlite'), ...options });
  opened.push(cache);
  return cache;
}

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

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-cache-'));
});

afterEach(() => {
  for (const cache of opened.splice(0)) cache.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Cache', () => {
  it('creates parent directories and stores text, JSON and metadata', () => {
    const cache = Cache.open({ path: join(dir, 'a', 'b', 'cache.sqlite') });
    opened.push(cache);
    cache.set('fetch', 'https://example.com/', JSON.stringify({ ok: true }), { meta: { contentType: 'application/json' } });
    const hit = cache.get('fetch', 'https://example.com/');
    expect(hit?.json()).toEqual({ ok: true });
    expect(hit?.text()).toBe('{"ok":true}');
    expect(hit?.meta).toEqual({ contentType: 'application/json' });
    expect(hit?.fromCache).toBe(true);
  });

  it('expires entries after their TTL', () => {
    const time = clock();
    const cache = open({ now: time.now, defaultTtlMs: 1000 });
    cache.set('search', 'q', 'default ttl');
    cache.set('search', 'long', 'own ttl', { ttlMs: 5000 });
    cache.set('search', 'forever', 'no expiry', { ttlMs: Infinity });
    time.advance(999);
    expect(cache.get('search', 'q')?.text()).toBe('default ttl');
    time.advance(1);
    expect(cache.get('search', 'q')).toBeUndefined();
    expect(cache.get('search', 'long')?.expiresAt).toBe(1_000_000 + 5000);
    time.advance(10_000);
    expect(cache.get('search', 'long')).toBeUndefined();
    expect(cache.get('search', 'forever')?.expiresAt).toBeNull();
    expect(cache.prune().entries).toBe(2);
    expect(cache.stats().entries).toBe(1);
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

  it('stores identical bodies once and drops unused bodies on prune', () => {
    const cache = open();
    cache.set('fetch', 'a', 'same body');
    cache.set('fetch', 'b', Buffer.from('same body'));
    cache.set('fetch', 'c', 'other body');
    expect(blobCount()).toBe(2);
    expect(cache.stats()).toMatchObject({ entries: 3, bytes: 'same body'.length + 'other body'.length });
    cache.delete('fetch', 'a');
    cache.delete('fetch', 'c');
    expect(cache.prune()).toEqual({ entries: 0, blobs: 1, bytes: 'other body'.length });
    expect(blobCount()).toBe(1);
    expect(cache.get('fetch', 'b')?.text()).toBe('same body');
  });

  it('treats keys with the same fields in any order as one key', () => {
    const cache = open();
    cache.set('search', { query: 'fathom', page: 1, options: { lang: 'en', safe: true } }, 'results');
    expect(cache.get('search', { options: { safe: true, lang: 'en' }, page: 1, query: 'fathom' })?.text()).toBe('results');
    expect(cache.get('search', { query: 'fathom', page: 2, options: { lang: 'en', safe: true } })).toBeUndefined();
    expect(cache.get('other', { query: 'fathom', page: 1, options: { lang: 'en', safe: true } })).toBeUndefined();
  });

  it('replays a recording without calling the producer, whatever its age', async () => {
    const time = clock();
    const recorder = open({ mode: 'record', now: time.now, defaultTtlMs: 1000 });
    const live = vi.fn(async () => ({ body: '<html>live</html>', meta: { finalUrl: 'https://example.com/final' }, ttlMs: 10 }));
    await recorder.getOrSet('fetch', 'https://example.com/', live);
    await recorder.getOrSet('fetch', 'https://example.com/', live);
    expect(live).toHaveBeenCalledTimes(2);
    recorder.close();

    time.advance(365 * 24 * 60 * 60 * 1000);
    const replayer = open({ mode: 'replay', now: time.now });
    const never = vi.fn(async () => 'should not run');
    const hit = await replayer.getOrSet('fetch', 'https://example.com/', never);
    expect(never).not.toHaveBeenCalled();
    expect(hit.text()).toBe('<html>live</html>');
    expect(hit.meta).toEqual({ finalUrl: 'https://example.com/final' });
    expect(hit.expiresAt).toBeNull();
  });

  it('replays entries stored in normal mode even after they expire', async () => {
    const time = clock();
    open({ now: time.now, defaultTtlMs: 10 }).set('search', 'q', 'old');
    time.advance(1000);
    const replayer = open({ mode: 'replay', now: time.now });
    expect((await replayer.getOrSet('search', 'q', async () => 'new')).text()).toBe('old');
    expect(replayer.prune().entries).toBe(0);
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
    open().set('ns', 'k', 'stored before');
    const off = open({ mode: 'off' });
    let calls = 0;
    const produce = async () => `live ${++calls}`;
    expect((await off.getOrSet('ns', 'k', produce)).text()).toBe('live 1');
    expect((await off.getOrSet('ns', 'k', produce)).text()).toBe('live 2');
    expect(off.get('ns', 'k')).toBeUndefined();
    off.set('ns', 'other', 'x');
    expect(off.stats().entries).toBe(0);
    expect(open().get('ns', 'other')).toBeUndefined();
    expect(open().stats().entries).toBe(1);
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

  it('sees writes from another instance on the same file', async () => {
    const first = open();
    const second = open();
    first.set('fetch', 'a', 'from first');
    expect(second.get('fetch', 'a')?.text()).toBe('from first');
    await second.getOrSet('fetch', 'b', async () => 'from second');
    const produce = vi.fn(async () => 'not needed');
    expect((await first.getOrSet('fetch', 'b', produce)).text()).toBe('from second');
    expect(produce).not.toHaveBeenCalled();
  });

  it('evicts the least recently used entries to fit maxBytes', () => {
    const time = clock();
    const cache = open({ now: time.now, maxBytes: 250 });
    for (const name of ['a', 'b', 'c']) {
      cache.set('ns', name, name.repeat(100));
      time.advance(10);
    }
    expect(cache.get('ns', 'a')).toBeDefined();
    expect(cache.prune()).toEqual({ entries: 1, blobs: 1, bytes: 100 });
    expect(cache.get('ns', 'b')).toBeUndefined();
    expect(cache.get('ns', 'a')?.text()).toBe('a'.repeat(100));
    expect(cache.get('ns', 'c')?.text()).toBe('c'.repeat(100));
    expect(cache.stats().bytes).toBe(200);
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
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
    expect((await cache.getOrSet('fetch', 'k', async () => 'recovered')).text()).toBe('recovered');
  });

  it('keeps nothing for a zero TTL and counts hits and misses', async () => {
    const cache = open();
    const hit = await cache.getOrSet('fetch', 'k', async () => ({ body: 'transient', ttlMs: 0 }));
    expect(hit.text()).toBe('transient');
    expect(cache.get('fetch', 'k')).toBeUndefined();
    cache.set('fetch', 'j', 'kept');
    cache.get('fetch', 'j');
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 1, misses: 2 });
  });

  it('works in memory', () => {
    const cache = Cache.open({ path: ':memory:' });
    opened.push(cache);
    cache.set('ns', 'k', 'v');
    expect(cache.get('ns', 'k')?.text()).toBe('v');
  });
});
