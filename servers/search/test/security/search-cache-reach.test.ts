import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cache, createLogger, HttpClient, loadConfig } from '@fathom/core';
import type { CacheMode } from '@fathom/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startProviderFakes } from '../../../../tests/fixtures/providers.js';
import type { ProviderFakes } from '../../../../tests/fixtures/providers.js';
import { configSchema } from '../../src/config.js';
import { SearchEngine } from '../../src/engine.js';
import type { SearchOutcome } from '../../src/engine.js';
import { searxngProvider } from '../../src/providers/searxng.js';
import { definition } from '../../src/server.js';
import type { SearchRequest } from '../../src/types.js';
import { searchClient } from './helpers.js';
import type { SearchClient } from './helpers.js';

/** An intranet SearXNG's answer: what must not travel to a server that could not have asked for it. */
const INTRANET_TITLE = 'Brackenfold payroll ledger 7731';
const INTRANET_URL = 'https://wiki.brackenfold.example/finance/payroll-7731';
const intranetAnswer = {
  body: { query: 'payroll ledger', results: [{ url: INTRANET_URL, title: INTRANET_TITLE, content: 'Salaries by team, 2026.', engine: 'intranet' }] },
};

let intranet: ProviderFakes;
let other: ProviderFakes;
const dir = mkdtempSync(join(tmpdir(), 'fathom-search-results-reach-'));
const clients: SearchClient[] = [];
const closers: Array<() => Promise<void> | void> = [];

async function client(flags: Record<string, string>): Promise<SearchClient> {
  const created = await searchClient(flags);
  clients.push(created);
  return created;
}

const asked = (fakes: ProviderFakes) => fakes.requests.filter((request) => request.provider === 'searxng').length;

async function search(server: SearchClient, query: string) {
  const answer = await server.call('web_search', { query });
  const results = (answer.structured?.results ?? []) as Array<{ url: string; title: string }>;
  return { ...answer, titles: results.map((result) => result.title) };
}

beforeAll(async () => {
  [intranet, other] = await Promise.all([startProviderFakes(), startProviderFakes()]);
});

beforeEach(() => {
  intranet.reset();
  other.reset();
});

afterAll(async () => {
  await Promise.all(clients.map((created) => created.close()));
  await definition.shutdown();
  for (const close of closers) await close();
  await Promise.all([intranet.close(), other.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('search results in a cache file shared by two search servers', () => {
  it('a server configured with another SearXNG does not get the results a permissive one cached from its own', async () => {
    const shared = { 'cache-mode': 'normal', 'cache-path': join(dir, 'servers', 'cache.sqlite'), 'search-providers': 'searxng' };
    const permissive = await client({ ...shared, 'searxng-url': intranet.baseUrls.searxngUrl, 'egress-allow': '127.0.0.1' });
    const elsewhere = await client({ ...shared, 'searxng-url': other.baseUrls.searxngUrl });
    intranet.script('searxng', intranetAnswer);

    const first = await search(permissive, 'payroll ledger');
    expect(first.isError, first.text).toBe(false);
    expect(first.titles).toEqual([INTRANET_TITLE]);
    expect(asked(intranet)).toBe(1);

    const theirs = await search(elsewhere, 'payroll ledger');
    expect(theirs.isError, theirs.text).toBe(false);
    expect(theirs.text).not.toContain(INTRANET_TITLE);
    expect(theirs.text).not.toContain(INTRANET_URL);
    expect(theirs.titles.length).toBeGreaterThan(0);
    // It asked its own SearXNG, and nothing reached the intranet one.
    expect(asked(other)).toBe(1);
    expect(asked(intranet)).toBe(1);

    // The witness: the permissive server still answers from the cache.
    const again = await search(permissive, 'payroll ledger');
    expect(again.titles).toEqual([INTRANET_TITLE]);
    expect(asked(intranet)).toBe(1);
  });

  it('a server whose provider client reaches the same SearXNG shares its entries: its live search meets the same endpoint', async () => {
    // Provider endpoints are the operator's choice, reached wherever they are (runtime.ts): a
    // server without egress-allow asks a loopback SearXNG itself, so the entry is its answer too.
    const flags = { 'search-providers': 'searxng', 'searxng-url': intranet.baseUrls.searxngUrl };
    const shared = { ...flags, 'cache-mode': 'normal', 'cache-path': join(dir, 'same', 'cache.sqlite') };
    const permissive = await client({ ...shared, 'egress-allow': '127.0.0.1' });
    const strict = await client(shared);
    const uncached = await client(flags);

    const first = await search(permissive, 'quillwort census');
    expect(first.isError, first.text).toBe(false);
    const live = await search(uncached, 'quillwort census');
    expect(live.isError, live.text).toBe(false);
    expect(asked(intranet)).toBe(2);

    const fromCache = await search(strict, 'quillwort census');
    expect(fromCache.titles).toEqual(live.titles);
    expect(fromCache.titles).toEqual(first.titles);
    expect(asked(intranet)).toBe(2);
  });
});

/*
 * Engines whose provider clients have different address policies, sharing one cache file: the
 * path a server takes when its provider client refuses an address the entry came from. (Every
 * search server's provider client currently reaches private addresses, so no server pair can
 * show this through MCP.)
 */
describe('search results in a cache file shared by engines with different provider policies', () => {
  const logger = createLogger('search-cache-reach', { level: 'silent' });
  const path = join(dir, 'engines', 'cache.sqlite');
  const request: SearchRequest = { query: 'payroll ledger', num: 5, page: 1, includeDomains: [], excludeDomains: [] };

  function engine(allowPrivateNetwork: boolean, mode: CacheMode): SearchEngine {
    const config = loadConfig(configSchema, {
      server: 'search',
      flags: { 'search-providers': 'searxng', 'searxng-url': intranet.baseUrls.searxngUrl, 'log-level': 'silent' },
      env: {},
      cwd: tmpdir(),
    });
    const http = new HttpClient({ allowPrivateNetwork, retries: 0, logger });
    const cache = Cache.open({ path: mode === 'off' ? ':memory:' : path, mode });
    closers.push(() => http.close(), () => cache.close());
    return new SearchEngine({ config, logger, http, cache, providers: [searxngProvider] });
  }

  const failure = (outcome: Promise<SearchOutcome>) =>
    outcome.then(
      (answer) => ({ message: `answered: ${answer.results.map((result) => result.title).join(', ')}`, code: undefined }),
      (error: { message: string; code?: string }) => ({ message: error.message, code: error.code }),
    );

  it('a strict engine is refused the loopback results a permissive one cached, as if they were not cached', async () => {
    const permissive = engine(true, 'normal');
    const strict = engine(false, 'normal');
    const uncached = engine(false, 'off');
    intranet.script('searxng', intranetAnswer);

    const first = await permissive.search(request);
    expect(first.results.map((result) => result.title)).toEqual([INTRANET_TITLE]);
    expect(asked(intranet)).toBe(1);

    const refused = await failure(strict.search(request));
    expect(refused.code).toBe('blocked_address');
    expect(refused.message).toMatch(/^Refused to fetch http:\/\/127\.0\.0\.1:\d+\/searxng\/search\?.*: 127\.0\.0\.1 is a loopback address/);
    expect(refused).toEqual(await failure(uncached.search(request)));
    expect(asked(intranet)).toBe(1);

    // Replay cannot search live: it refuses the entry too.
    const replayed = await failure(engine(false, 'replay').search(request));
    expect(replayed.code).toBe('blocked_address');
    expect(replayed.message).not.toContain(INTRANET_TITLE);

    // The witness: the permissive engine still answers from the cache.
    const again = await permissive.search(request);
    expect(again.attempts).toEqual([{ provider: 'searxng', outcome: 'cached' }]);
    expect(again.results.map((result) => result.title)).toEqual([INTRANET_TITLE]);
    expect(asked(intranet)).toBe(1);
  });
});
