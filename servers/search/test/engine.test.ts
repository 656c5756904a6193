import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache, createLogger, HttpClient, loadConfig } from '@fathom/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startProviderFakes } from '../../../tests/fixtures/providers.js';
import type { ProviderFakes } from '../../../tests/fixtures/providers.js';
import { startRateLimitedSerper } from '../../../tests/fixtures/rate-limited-serper.js';
import { configSchema } from '../src/config.js';
import type { Config } from '../src/config.js';
import { SearchEngine } from '../src/engine.js';
import { WEB_PROVIDERS } from '../src/providers/registry.js';
import type { SearchRequest } from '../src/types.js';

const logger = createLogger('engine-test', { level: 'silent' });
const PROVIDERS = [...WEB_PROVIDERS];
const request = (query: string, extra: Partial<SearchRequest> = {}): SearchRequest => ({ query, num: 5, page: 1, includeDomains: [], excludeDomains: [], ...extra });

let fakes: ProviderFakes;
const http = new HttpClient({ allowPrivateNetwork: true, retries: 0, logger });

function configWith(flags: Record<string, string>): Config {
  return loadConfig(configSchema, { server: 'search', flags: { ...fakes.flags, 'cache-mode': 'off', ...flags }, env: {}, cwd: tmpdir() });
}

function engineWith(flags: Record<string, string> = {}, cache = Cache.open({ path: ':memory:', mode: 'off' })): SearchEngine {
  return new SearchEngine({ config: configWith(flags), logger, http, cache, providers: PROVIDERS });
}

const asked = (provider: string) => fakes.requests.filter((entry) => entry.provider === provider).length;

beforeAll(async () => {
  fakes = await startProviderFakes();
});

beforeEach(() => fakes.reset());

afterAll(async () => {
  await fakes?.close();
  await http.close();
});

describe('SearchEngine', () => {
  it('tries configured providers first, then DuckDuckGo', () => {
    const engine = engineWith();
    expect(engine.order().map((provider) => provider.name)).toEqual(['serper', 'brave', 'tavily', 'exa', 'searxng', 'duckduckgo']);
    const only = engineWith({ 'search-providers': 'wikipedia,duckduckgo' });
    expect(only.order().map((provider) => provider.name)).toEqual(['wikipedia', 'duckduckgo']);
  });

  it('falls back to the next provider on a 5xx, and on a refused key', async () => {
    fakes.script('serper', { status: 500 });
    const outcome = await engineWith().search(request('solar eclipse'));
    expect(outcome.provider).toBe('brave');
    expect(outcome.attempts.map((attempt) => [attempt.provider, attempt.outcome])).toEqual([
      ['serper', 'failed'],
      ['brave', 'answered'],
    ]);
    expect(outcome.results[0]).toMatchObject({ provider: 'brave', rank: 1 });
    const wrongKey = await engineWith({ 'serper-api-key': 'wrong' }).search(request('solar eclipse'));
    expect(wrongKey.provider).toBe('brave');
    expect(wrongKey.attempts[0]?.detail).toMatch(/Serper refused the API key/);
  });

  it('honours Retry-After: a provider that asked to wait is skipped until then', async () => {
    const engine = engineWith();
    fakes.script('serper', { status: 429, retryAfter: '30' });
    expect((await engine.search(request('first'))).provider).toBe('brave');
    const second = await engine.search(request('second'));
    expect(second.provider).toBe('brave');
    expect(second.attempts[0]).toEqual({ provider: 'serper', outcome: 'skipped', detail: 'asked to wait 30 s' });
    expect(asked('serper')).toBe(1);
  });

  it('waits out a short Retry-After when no other provider answers', async () => {
    const engine = engineWith({ 'search-providers': 'serper' });
    fakes.script('serper', { status: 429, retryAfter: '1' });
    const started = Date.now();
    const outcome = await engine.search(request('patience'));
    expect(outcome.provider).toBe('serper');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(asked('serper')).toBe(2);
  });

  it('says which providers failed and how when none answers', async () => {
    const engine = engineWith({ 'search-providers': 'serper,brave' });
    fakes.script('serper', { status: 500 });
    fakes.script('brave', { status: 503 });
    await expect(engine.search(request('nothing'))).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/^No search provider answered: serper: .*500.*; brave: .*503/),
    });
  });

  it('refuses an unknown or unconfigured provider with a way out', async () => {
    await expect(engineWith({ 'serper-api-key': '' }).search(request('x'), { provider: 'serper' })).rejects.toMatchObject({
      code: 'invalid_config',
      message: expect.stringContaining('SERPER_API_KEY'),
    });
  });

  it('answers a repeated search from the cache', async () => {
    const cache = Cache.open({ path: ':memory:', mode: 'normal' });
    const engine = engineWith({}, cache);
    const first = await engine.search(request('cached query'));
    const second = await engine.search(request('cached query'));
    expect(second.results).toEqual(first.results);
    expect(second.attempts).toEqual([{ provider: 'serper', outcome: 'cached' }]);
    expect(asked('serper')).toBe(1);
    await cache.close();
  });

  it('records a run and replays it with every provider offline', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fathom-search-replay-')), 'cache.sqlite');
    const recording = Cache.open({ path, mode: 'record' });
    const live = await engineWith({}, recording).search(request('recorded query'));
    await recording.close();
    const replaying = Cache.open({ path, mode: 'replay' });
    fakes.script('serper', { status: 500, times: 10 });
    const replayed = await engineWith({}, replaying).search(request('recorded query'));
    expect(replayed.results).toEqual(live.results);
    expect(asked('serper')).toBe(1);
    await expect(engineWith({ 'search-providers': 'serper' }, replaying).search(request('never recorded'))).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringContaining('Not in the recording'),
    });
    await replaying.close();
  });

  it('fans out to every provider and fuses their rankings, each page once', async () => {
    const outcome = await engineWith({ 'search-providers': 'serper,brave,tavily' }).search(request('fusion', { num: 10 }), { fanout: true });
    expect(outcome.provider).toBe('serper+brave+tavily');
    expect(outcome.results.map((result) => result.rank)).toEqual(outcome.results.map((_, index) => index + 1));
    const urls = outcome.results.map((result) => result.url);
    expect(new Set(urls).size).toBe(urls.length);
    expect(new Set(outcome.results.map((result) => result.provider))).toEqual(new Set(['serper', 'brave', 'tavily']));
  });

  it('queues 50 parallel searches under a provider limit instead of failing', async () => {
    const limited = await startRateLimitedSerper({ concurrency: 3, latencyMs: 20, apiKey: 'k' });
    const engine = engineWith({ 'search-providers': 'serper', 'serper-base-url': limited.url, 'serper-api-key': 'k', 'provider-concurrency': '3' });
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, index) => engine.search(request(`query ${index}`))));
    expect(outcomes.every((outcome) => outcome.results.length === 5)).toBe(true);
    expect(limited.refused).toBe(0);
    expect(limited.peak).toBeLessThanOrEqual(3);
    await limited.close();
  });
});
