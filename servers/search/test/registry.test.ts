import { tmpdir } from 'node:os';
import { Cache, createLogger, FathomError, HttpClient, loadConfig } from '@fathom/core';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { configSchema, envAliases } from '../src/config.js';
import type { Config } from '../src/config.js';
import { SearchEngine } from '../src/engine.js';
import { defineProvider } from '../src/providers/define.js';
import { PROVIDER_LIST, PROVIDER_NAMES, providerReport, WEB_PROVIDERS } from '../src/providers/registry.js';
import type { SearchProvider } from '../src/types.js';

const logger = createLogger('registry-test', { level: 'silent' });
const http = new HttpClient({ allowPrivateNetwork: true, retries: 0, logger });
const load = (env: Record<string, string> = {}): Config => loadConfig(configSchema, { server: 'search', env, envAliases, cwd: tmpdir() });

afterAll(() => http.close());

describe('the provider registry', () => {
  it('is where the config, its environment names, the provider names and the tool description come from', () => {
    expect(PROVIDER_NAMES).toEqual([...WEB_PROVIDERS.map((provider) => provider.name), 'local']);
    for (const provider of WEB_PROVIDERS) {
      for (const key of Object.keys(provider.config)) expect(configSchema.shape).toHaveProperty(key);
      for (const [key, names] of Object.entries(provider.env)) expect(envAliases[key]).toEqual(names);
      expect(provider.description).toMatch(/^\S.+\S$/);
      expect(PROVIDER_LIST).toContain(provider.title);
    }
    expect(configSchema.shape.searchProviders.description).toContain(`(comma-separated: ${PROVIDER_NAMES.join(', ')})`);
    expect(PROVIDER_LIST).toBe('Serper/Google, Brave, Tavily, Exa, SearXNG, DuckDuckGo, Wikipedia, or the local index of pages fetched before');
  });

  it('turns a provider on through the environment name it declares', () => {
    for (const provider of WEB_PROVIDERS.filter((entry) => entry.requires)) {
      const { env } = provider.requires!;
      const value = env.endsWith('_URL') ? 'http://127.0.0.1:1/' : 'a-key';
      expect(provider.missing(load())).toBe(`${env} is not set`);
      expect(provider.missing(load({ [env]: value }))).toBeUndefined();
    }
  });

  it('reports each provider for doctor and docs: ready, or what it needs', () => {
    const report = providerReport(load({ SERPER_API_KEY: 'a-key' }));
    expect(report.map((row) => row.name)).toEqual(PROVIDER_NAMES);
    expect(report.find((row) => row.name === 'serper')).toMatchObject({ ready: true });
    expect(report.find((row) => row.name === 'brave')).toMatchObject({ ready: false, missing: 'BRAVE_API_KEY is not set' });
    expect(report.find((row) => row.name === 'duckduckgo')).toMatchObject({ ready: true });
    expect(report.every((row) => row.description.length > 0)).toBe(true);
  });
});

describe('the engine, given a provider it has never heard of', () => {
  const failing = (name: string, byDefault: 'when-configured' | 'when-named', env: string) =>
    defineProvider({
      name,
      title: name,
      description: `${name}: a provider defined only here`,
      config: { userAgent: z.string() },
      requires: { key: 'userAgent', env },
      byDefault,
      endpoint: () => `https://${name}.invalid`,
      search: () => Promise.reject(new FathomError('upstream', `${name} is down`)),
    }) as SearchProvider<Config>;

  it('orders it by its own data and names its setting when nothing answers', async () => {
    const engine = new SearchEngine({
      config: load(),
      logger,
      http,
      cache: Cache.open({ path: ':memory:', mode: 'off' }),
      providers: [failing('first', 'when-configured', 'FIRST_API_KEY'), failing('named', 'when-named', 'NAMED_API_KEY'), failing('second', 'when-configured', 'SECOND_API_KEY')],
    });
    expect(engine.order().map((provider) => provider.name)).toEqual(['first', 'second']);
    const error = await engine.search({ query: 'q', num: 5, page: 1, includeDomains: [], excludeDomains: [] }).then(
      () => undefined,
      (caught: unknown) => caught as FathomError,
    );
    expect(error).toMatchObject({ code: 'unavailable', message: 'No search provider answered: first: first is down; second: second is down' });
    expect(error?.hint).toBe('Try again later, or configure another provider (FIRST_API_KEY, NAMED_API_KEY, SECOND_API_KEY).');
  });
});
