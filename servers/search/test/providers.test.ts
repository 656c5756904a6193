import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient, createLogger, loadConfig } from '@fathom/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import type { Config } from '../src/config.js';
import { braveProvider } from '../src/providers/brave.js';
import { normalizeDate, pageWindow, parseRetryAfter, plainText, sinceDate, withSiteFilters } from '../src/providers/common.js';
import { duckduckgoProvider } from '../src/providers/duckduckgo.js';
import { exaProvider } from '../src/providers/exa.js';
import { searxngProvider } from '../src/providers/searxng.js';
import { serperProvider } from '../src/providers/serper.js';
import { tavilyProvider } from '../src/providers/tavily.js';
import { wikipediaProvider } from '../src/providers/wikipedia.js';
import type { ProviderContext, SearchProvider, SearchRequest } from '../src/types.js';
import { resultId } from '../src/urls.js';
import { startProviderFakes } from '../../../tests/fixtures/providers.js';
import type { FakeProvider, FakeRequest, ProviderFakes } from '../../../tests/fixtures/providers.js';
import { fathomFailure } from '@fathom/core/testing';

const quiet = createLogger('providers-test', { level: 'silent' });
const cwd = mkdtempSync(join(tmpdir(), 'fathom-providers-'));
const QUERY = 'quantum error correction';

let fakes: ProviderFakes;
let http: HttpClient;
const clients: HttpClient[] = [];

beforeAll(async () => {
  fakes = await startProviderFakes();
  http = new HttpClient({ allowPrivateNetwork: true, retries: 0, logger: quiet });
});

afterEach(async () => {
  fakes.reset();
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await http.close();
  await fakes.close();
});

function configWith(flags: Record<string, string | boolean> = {}, drop: string[] = []): Config {
  const merged: Record<string, string | boolean> = { 'cache-mode': 'off', ...fakes.flags, ...flags };
  for (const key of drop) delete merged[key];
  return loadConfig(configSchema, { server: 'search', flags: merged, env: {}, cwd });
}

function context(flags: Record<string, string | boolean> = {}, options: { client?: HttpClient; signal?: AbortSignal } = {}): ProviderContext<Config> {
  return { http: options.client ?? http, config: configWith(flags), logger: quiet, signal: options.signal };
}

function client(options: ConstructorParameters<typeof HttpClient>[0]): HttpClient {
  const created = new HttpClient({ allowPrivateNetwork: true, logger: quiet, ...options });
  clients.push(created);
  return created;
}

function request(overrides: Partial<SearchRequest> = {}): SearchRequest {
  return { query: QUERY, num: 5, page: 1, includeDomains: [], excludeDomains: [], ...overrides };
}

function sentTo(provider: FakeProvider): FakeRequest[] {
  return fakes.requests.filter((sent) => sent.provider === provider);
}

function only(provider: FakeProvider): FakeRequest {
  const sent = sentTo(provider);
  expect(sent).toHaveLength(1);
  return sent[0]!;
}


describe('serper', () => {
  it('POSTs /search with X-API-KEY and every option mapped, keeping Serper extras', async () => {
    const results = await serperProvider.search(
      request({
        num: 5,
        page: 2,
        language: 'de',
        region: 'DE',
        timeRange: 'week',
        includeDomains: ['arxiv.org'],
        excludeDomains: ['reddit.com'],
        location: 'Berlin, Germany',
        autocorrect: false,
      }),
      context(),
    );
    const sent = only('serper');
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/serper/search');
    expect(sent.headers['x-api-key']).toBe(fakes.keys.serper);
    expect(sent.headers['content-type']).toBe('application/json');
    expect(sent.body).toEqual({
      q: `${QUERY} site:arxiv.org -site:reddit.com`,
      num: 5,
      page: 2,
      gl: 'de',
      hl: 'de',
      tbs: 'qdr:w',
      location: 'Berlin, Germany',
      autocorrect: false,
    });
    expect(results).toHaveLength(5);
    expect(results[0]).toEqual({
      id: resultId('https://arxiv.org/serper/6'),
      title: `Result 6: ${QUERY}`,
      url: 'https://arxiv.org/serper/6',
      snippet: `A page about ${QUERY}, answer 6 from the serper fake.`,
      published: '2024-03-05',
      provider: 'serper',
      rank: 1,
      extra: {
        position: 6,
        date: 'Mar 5, 2024',
        sitelinks: [
          { title: 'Overview', link: 'https://arxiv.org/serper/6/overview' },
          { title: 'Details', link: 'https://arxiv.org/serper/6/details' },
        ],
      },
    });
    expect(results[1]).toMatchObject({
      url: 'https://arxiv.org/serper/7',
      rank: 2,
      extra: { position: 7, attributes: { Rating: '4.5', Published: '2024' } },
    });
    expect(results[1]!.published).toBeUndefined();
    expect(results[2]).toMatchObject({ published: '2024-03-05', extra: { position: 8, date: 'Mar 5, 2024' } });
  });

  it('sends only q, num and page when nothing else is asked', async () => {
    await serperProvider.search(request({ num: 10 }), context());
    expect(only('serper').body).toEqual({ q: QUERY, num: 10, page: 1 });
  });

  it.each([
    ['hour', 'qdr:h'],
    ['day', 'qdr:d'],
    ['week', 'qdr:w'],
    ['month', 'qdr:m'],
    ['year', 'qdr:y'],
  ] as const)('maps timeRange %s to tbs %s', async (timeRange, tbs) => {
    await serperProvider.search(request({ timeRange }), context());
    expect(only('serper').body).toMatchObject({ tbs });
  });

  it('passes huggingface.co dataset links through (filtering them is the server’s job)', async () => {
    const results = await serperProvider.search(request({ query: 'imagenet dataset', num: 5 }), context());
    expect(results.map((result) => result.url)).toContain('https://huggingface.co/datasets/fathom-fake/imagenet-dataset');
  });

  it('reads an empty account as a quota limit', async () => {
    fakes.script('serper', { status: 400, body: { message: 'Not enough credits', statusCode: 400 } });
    const error = await fathomFailure(serperProvider.search(request(), context()));
    expect(error.code).toBe('rate_limited');
    expect(error.message).toContain('Not enough credits');
    expect(error.details).toMatchObject({ status: 400, quota: true });
  });
});

describe('brave', () => {
  it('GETs /res/v1/web/search with X-Subscription-Token and the parameters Brave documents', async () => {
    const results = await braveProvider.search(
      request({
        num: 10,
        page: 3,
        language: 'ja',
        region: 'jp',
        timeRange: 'hour',
        includeDomains: ['a.org', 'b.org'],
        excludeDomains: ['c.org'],
      }),
      context(),
    );
    const sent = only('brave');
    expect(sent.method).toBe('GET');
    expect(sent.path).toBe('/brave/res/v1/web/search');
    expect(sent.headers['x-subscription-token']).toBe(fakes.keys.brave);
    expect(sent.headers.accept).toBe('application/json');
    expect(sent.query).toEqual({
      q: `${QUERY} (site:a.org OR site:b.org) -site:c.org`,
      count: '10',
      offset: '2',
      country: 'JP',
      search_lang: 'jp',
      freshness: 'pd',
    });
    expect(results).toHaveLength(10);
    expect(results[0]).toEqual({
      id: resultId('https://a.org/brave/21'),
      title: `Result 21: ${QUERY}`,
      url: 'https://a.org/brave/21',
      snippet: `A page about ${QUERY}, answer 21 from the brave fake.`,
      published: '2024-03-05T10:00:00.000Z',
      provider: 'brave',
      rank: 1,
      extra: { age: 'March 5, 2024', language: 'en', extraSnippets: ['More about quantum.'] },
    });
  });

  it.each([
    ['week', 'pw'],
    ['month', 'pm'],
    ['year', 'py'],
  ] as const)('maps timeRange %s to freshness %s', async (timeRange, freshness) => {
    await braveProvider.search(request({ timeRange }), context());
    expect(only('brave').query.freshness).toBe(freshness);
  });

  it('maps languages and regions to the codes Brave accepts, and leaves out the rest', async () => {
    await braveProvider.search(request({ language: 'zh', region: 'tw' }), context());
    await braveProvider.search(request({ language: 'en', region: 'gb' }), context());
    await braveProvider.search(request({ language: 'xx', region: 'zz' }), context());
    const [chinese, british, unknown] = sentTo('brave');
    expect(chinese!.query).toMatchObject({ search_lang: 'zh-hant', country: 'TW' });
    expect(british!.query).toMatchObject({ search_lang: 'en-gb', country: 'GB' });
    expect(unknown!.query).not.toHaveProperty('search_lang');
    expect(unknown!.query).not.toHaveProperty('country');
  });

  it('pages by whole counts when num is above Brave’s 20', async () => {
    const results = await braveProvider.search(request({ num: 30, page: 2 }), context());
    expect(only('brave').query).toMatchObject({ count: '20', offset: '1' });
    expect(results.map((result) => result.url)).toEqual(Array.from({ length: 10 }, (_, i) => `https://example.org/brave/${31 + i}`));
  });

  it('asks nothing past the tenth page', async () => {
    expect(await braveProvider.search(request({ num: 10, page: 11 }), context())).toEqual([]);
    expect(sentTo('brave')).toHaveLength(0);
  });

  it('takes the wait from X-RateLimit-Reset when a 429 has no Retry-After', async () => {
    fakes.script('brave', { status: 429 });
    const error = await fathomFailure(braveProvider.search(request(), context()));
    expect(error.code).toBe('rate_limited');
    expect(error.details).toMatchObject({ status: 429, retryAfterMs: 1000 });
  });
});

describe('tavily', () => {
  it('POSTs /search with a Bearer key, asking for enough results to cut the page out', async () => {
    const results = await tavilyProvider.search(
      request({ num: 5, page: 2, timeRange: 'month', includeDomains: ['nature.com'], excludeDomains: ['x.com'], region: 'us', language: 'en' }),
      context(),
    );
    const sent = only('tavily');
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/tavily/search');
    expect(sent.headers.authorization).toBe(`Bearer ${fakes.keys.tavily}`);
    expect(sent.body).toEqual({
      query: QUERY,
      topic: 'general',
      search_depth: 'basic',
      max_results: 10,
      include_answer: false,
      include_raw_content: false,
      include_images: false,
      time_range: 'month',
      include_domains: ['nature.com'],
      exclude_domains: ['x.com'],
    });
    expect(results.map((result) => result.url)).toEqual([6, 7, 8, 9, 10].map((n) => `https://nature.com/tavily/${n}`));
    expect(results[0]).toEqual({
      id: resultId('https://nature.com/tavily/6'),
      title: `Result 6: ${QUERY}`,
      url: 'https://nature.com/tavily/6',
      snippet: `A page about ${QUERY}, answer 6 from the tavily fake.`,
      provider: 'tavily',
      rank: 1,
      extra: { score: 0.8 },
    });
  });

  it('maps hour to day and caps max_results at 20', async () => {
    const results = await tavilyProvider.search(request({ num: 15, page: 2, timeRange: 'hour' }), context());
    expect(only('tavily').body).toMatchObject({ max_results: 20, time_range: 'day' });
    expect(results).toHaveLength(5);
  });

  it('asks nothing for a page past the 20 results Tavily can give', async () => {
    expect(await tavilyProvider.search(request({ num: 10, page: 3 }), context())).toEqual([]);
    expect(sentTo('tavily')).toHaveLength(0);
  });

  it.each([432, 433])('reads %i as the plan’s usage limit', async (status) => {
    fakes.script('tavily', { status, body: { detail: { error: 'This request exceeds your plan\'s set usage limit.' } } });
    const error = await fathomFailure(tavilyProvider.search(request(), context()));
    expect(error.code).toBe('rate_limited');
    expect(error.details).toMatchObject({ status, quota: true });
    expect(error.hint).toContain('TAVILY_API_KEY');
  });
});

describe('exa', () => {
  it('POSTs /search with x-api-key, domains, a start date and highlights for snippets', async () => {
    const before = Date.now();
    const results = await exaProvider.search(
      request({ num: 3, page: 2, timeRange: 'week', region: 'gb', includeDomains: ['arxiv.org'], excludeDomains: ['medium.com'] }),
      context(),
    );
    const sent = only('exa');
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/exa/search');
    expect(sent.headers['x-api-key']).toBe(fakes.keys.exa);
    const body = sent.body as Record<string, unknown>;
    expect(body).toEqual({
      query: QUERY,
      type: 'auto',
      numResults: 6,
      contents: { highlights: true },
      includeDomains: ['arxiv.org'],
      excludeDomains: ['medium.com'],
      startPublishedDate: expect.any(String),
      userLocation: 'GB',
    });
    const since = Date.parse(body.startPublishedDate as string);
    expect(before - since).toBeGreaterThanOrEqual(7 * 86_400_000 - 1000);
    expect(before - since).toBeLessThanOrEqual(7 * 86_400_000 + 60_000);
    expect(results).toHaveLength(3);
    expect(results[0]).toEqual({
      id: resultId('https://arxiv.org/exa/4'),
      title: `Result 4: ${QUERY}`,
      url: 'https://arxiv.org/exa/4',
      snippet: `A page about ${QUERY}, answer 4 from the exa fake.`,
      published: new Date(since + 3_600_000).toISOString(),
      provider: 'exa',
      rank: 1,
      extra: { author: 'Fathom Fake', score: 0.47 },
    });
  });

  it('sends no filters it was not given', async () => {
    await exaProvider.search(request({ num: 10 }), context());
    expect(only('exa').body).toEqual({ query: QUERY, type: 'auto', numResults: 10, contents: { highlights: true } });
  });

  it('reads 402 as spent credits', async () => {
    fakes.script('exa', { status: 402, body: { requestId: 'r1', error: 'No more credits', tag: 'NO_MORE_CREDITS' } });
    const error = await fathomFailure(exaProvider.search(request(), context()));
    expect(error.code).toBe('rate_limited');
    expect(error.details).toMatchObject({ status: 402, quota: true });
  });
});

describe('searxng', () => {
  it('GETs /search?format=json with pageno, language and time_range', async () => {
    const results = await searxngProvider.search(
      request({ num: 5, page: 2, language: 'fr', region: 'ca', timeRange: 'hour', includeDomains: ['lemonde.fr'] }),
      context(),
    );
    const sent = only('searxng');
    expect(sent.method).toBe('GET');
    expect(sent.path).toBe('/searxng/search');
    expect(sent.query).toEqual({ q: `${QUERY} site:lemonde.fr`, format: 'json', pageno: '2', language: 'fr-CA', time_range: 'day' });
    expect(results).toHaveLength(5);
    expect(results[0]).toEqual({
      id: resultId('https://lemonde.fr/searxng/21'),
      title: `Result 21: ${QUERY}`,
      url: 'https://lemonde.fr/searxng/21',
      snippet: `A page about ${QUERY}, answer 21 from the searxng fake.`,
      provider: 'searxng',
      rank: 1,
      extra: { engines: ['duckduckgo', 'brave'], score: 4, category: 'general' },
    });
    expect(results[1]).toMatchObject({ url: 'https://lemonde.fr/searxng/22', published: '2024-03-05' });
  });

  it.each([
    ['week', 'week'],
    ['month', 'month'],
    ['year', 'year'],
  ] as const)('maps timeRange %s to time_range %s', async (timeRange, expected) => {
    await searxngProvider.search(request({ timeRange }), context());
    expect(only('searxng').query.time_range).toBe(expected);
  });

  it('explains a 403 as the JSON format being off', async () => {
    fakes.script('searxng', { status: 403 });
    const error = await fathomFailure(searxngProvider.search(request(), context()));
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe('SearXNG refused the request (HTTP 403)');
    expect(error.hint).toContain('settings.yml');
  });
});

describe('duckduckgo', () => {
  it('POSTs the HTML endpoint’s form and reads its result page', async () => {
    const results = await duckduckgoProvider.search(
      request({ num: 5, language: 'en', region: 'us', timeRange: 'month', excludeDomains: ['pinterest.com'] }),
      context(),
    );
    const sent = only('duckduckgo');
    expect(sent.method).toBe('POST');
    expect(sent.path).toBe('/duckduckgo/html/');
    expect(sent.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(sent.body).toEqual({ q: `${QUERY} -site:pinterest.com`, b: '', kl: 'us-en', df: 'm' });
    expect(results).toHaveLength(5);
    expect(results[0]).toEqual({
      id: resultId('https://example.org/duckduckgo/1'),
      title: `Result 1: ${QUERY} & more`,
      url: 'https://example.org/duckduckgo/1',
      snippet: `A page about ${QUERY}, answer 1 from the duckduckgo fake.`,
      provider: 'duckduckgo',
      rank: 1,
    });
    expect(results[1]!.url).toBe('https://example.org/duckduckgo/2');
    expect(results[2]).toMatchObject({ url: 'https://example.org/duckduckgo/3', published: '2024-03-05' });
    expect(results.some((result) => result.url.includes('ads.example') || result.url.includes('duckduckgo.com'))).toBe(false);
  });

  it('pages with the s offset and the fields of the Next form', async () => {
    const results = await duckduckgoProvider.search(request({ num: 10, page: 3, timeRange: 'day' }), context());
    expect(only('duckduckgo').body).toEqual({ q: QUERY, b: '', df: 'd', s: '20', dc: '21', v: 'l', o: 'json', api: 'd.js' });
    expect(results[0]!.url).toBe('https://example.org/duckduckgo/21');
    expect(results).toHaveLength(10);
  });

  it.each([
    ['gb', 'en', 'uk-en'],
    ['ch', 'fr', 'ch-fr'],
    ['ch', undefined, 'ch-de'],
    ['jp', 'ja', 'jp-jp'],
    ['us', 'es', 'us-es'],
  ])('picks kl for region %s and language %s: %s', async (region, language, kl) => {
    await duckduckgoProvider.search(request({ region, language }), context());
    expect(only('duckduckgo').body).toMatchObject({ kl });
  });

  it('sends no kl for a region DuckDuckGo does not list', async () => {
    await duckduckgoProvider.search(request({ region: 'zz', language: 'en' }), context());
    expect(only('duckduckgo').body).not.toHaveProperty('kl');
  });

  it('reads the 202 challenge page as rate limiting', async () => {
    fakes.script('duckduckgo', { status: 202 });
    const error = await fathomFailure(duckduckgoProvider.search(request(), context()));
    expect(error.code).toBe('rate_limited');
    expect(error.details).toMatchObject({ status: 202 });
  });
});

describe('wikipedia', () => {
  it('asks the language’s wiki for list=search with srlimit and sroffset, snippets stripped of markup', async () => {
    const results = await wikipediaProvider.search(request({ num: 5, page: 3, language: 'de', region: 'at' }), context());
    const sent = only('wikipedia');
    expect(sent.method).toBe('GET');
    expect(sent.path).toBe('/wikipedia/de/w/api.php');
    expect(sent.headers['user-agent']).toMatch(/^Fathom\//);
    expect(sent.query).toEqual({
      action: 'query',
      list: 'search',
      srsearch: QUERY,
      srlimit: '5',
      sroffset: '10',
      srprop: 'snippet|timestamp|wordcount',
      format: 'json',
      formatversion: '2',
    });
    const url = `${fakes.origin}/wikipedia/de/wiki/Quantum_error_correction_(11)`;
    expect(results[0]).toEqual({
      id: resultId(url),
      title: 'Quantum error correction (11)',
      url,
      snippet: 'The quantum error correction article number 11 & its "de" text',
      provider: 'wikipedia',
      rank: 1,
      extra: { pageId: 1011, lastEdited: '2024-05-01T12:00:00Z', wordCount: 511 },
    });
    expect(results).toHaveLength(5);
  });

  it('uses the English wiki when no language is given', async () => {
    await wikipediaProvider.search(request(), context());
    expect(only('wikipedia').path).toBe('/wikipedia/en/w/api.php');
  });

  it('asks nothing when the domain filters leave the wiki out', async () => {
    expect(await wikipediaProvider.search(request({ includeDomains: ['arxiv.org'] }), context())).toEqual([]);
    expect(await wikipediaProvider.search(request({ excludeDomains: ['127.0.0.1'] }), context())).toEqual([]);
    expect(sentTo('wikipedia')).toHaveLength(0);
  });

  it('reads the API’s error objects: maxlag as rate limiting, others as upstream', async () => {
    fakes.script('wikipedia', { status: 200, retryAfter: 5, body: { error: { code: 'maxlag', info: 'Waiting for a database server: 7 seconds lagged.' } } });
    const lagged = await fathomFailure(wikipediaProvider.search(request(), context()));
    expect(lagged.code).toBe('rate_limited');
    expect(lagged.details).toMatchObject({ retryAfterMs: 5000 });

    fakes.script('wikipedia', { status: 200, body: { error: { code: 'internal_api_error_DBQueryError', info: 'A database query error has occurred.' } } });
    const broken = await fathomFailure(wikipediaProvider.search(request(), context()));
    expect(broken.code).toBe('upstream');
    expect(broken.message).toContain('A database query error has occurred.');
  });
});

const ALL: Array<[FakeProvider, SearchProvider<Config>, string]> = [
  ['serper', serperProvider, 'Serper'],
  ['brave', braveProvider, 'Brave Search'],
  ['tavily', tavilyProvider, 'Tavily'],
  ['exa', exaProvider, 'Exa'],
  ['searxng', searxngProvider, 'SearXNG'],
  ['duckduckgo', duckduckgoProvider, 'DuckDuckGo'],
  ['wikipedia', wikipediaProvider, 'Wikipedia'],
];

describe.each(ALL)('%s errors', (fake, provider, label) => {
  it('maps 429 with Retry-After in seconds to rate_limited with retryAfterMs', async () => {
    fakes.script(fake, { status: 429, retryAfter: 7 });
    const error = await fathomFailure(provider.search(request(), context()));
    expect(error.code).toBe('rate_limited');
    expect(error.message).toContain(label);
    expect(error.details).toMatchObject({ status: 429, retryAfterMs: 7000 });
  });

  it('maps 429 with Retry-After as an HTTP date', async () => {
    fakes.script(fake, { status: 429, retryAfter: new Date(Date.now() + 20_000).toUTCString() });
    const error = await fathomFailure(provider.search(request(), context()));
    const retryAfterMs = (error.details as { retryAfterMs: number }).retryAfterMs;
    expect(retryAfterMs).toBeGreaterThan(15_000);
    expect(retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  it('maps 500 to upstream', async () => {
    fakes.script(fake, { status: 500 });
    const error = await fathomFailure(provider.search(request(), context()));
    expect(error.code).toBe('upstream');
    expect(error.message).toContain(`${label} failed with HTTP 500`);
  });

  it('maps a body that is not in the provider’s format to upstream', async () => {
    fakes.script(fake, { status: 200, body: fake === 'duckduckgo' ? '<html><body><p>Service notice</p></body></html>' : '{"results": [' });
    const error = await fathomFailure(provider.search(request(), context()));
    expect(error.code).toBe('upstream');
    expect(error.message).toContain(label);
    expect(error.message).toContain('not in the expected format');
  });

  it('asks once, whatever the client’s own retry setting', async () => {
    fakes.script(fake, { status: 503, times: 3 });
    const error = await fathomFailure(provider.search(request(), context({}, { client: client({ retries: 2, retryBaseMs: 1 }) })));
    expect(error.code).toBe('upstream');
    expect(sentTo(fake)).toHaveLength(1);
  });

  it('gives up on a slow answer with the client’s timeout, and stops when the signal aborts', async () => {
    fakes.script(fake, { status: 200, delayMs: 2_000, times: 2 });
    const slow = await fathomFailure(provider.search(request(), context({}, { client: client({ retries: 0, timeoutMs: 100 }) })));
    expect(slow.code).toBe('timeout');
    const controller = new AbortController();
    const pending = provider.search(request(), context({}, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    expect((await fathomFailure(pending)).code).toBe('cancelled');
  });
});

describe.each([
  ['serper', serperProvider, 'serper-api-key', 'SERPER_API_KEY', 'Serper', 403],
  ['brave', braveProvider, 'brave-api-key', 'BRAVE_API_KEY', 'Brave Search', 422],
  ['tavily', tavilyProvider, 'tavily-api-key', 'TAVILY_API_KEY', 'Tavily', 401],
  ['exa', exaProvider, 'exa-api-key', 'EXA_API_KEY', 'Exa', 401],
] as const)('%s key', (fake, provider, flag, env, label, status) => {
  it('turns a refused key into forbidden, naming the variable to fix', async () => {
    const error = await fathomFailure(provider.search(request(), context({ [flag]: 'wrong-key' })));
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe(`${label} refused the API key (HTTP ${status})`);
    expect(error.hint).toContain(env);
    expect(only(fake).provider).toBe(fake);
  });

  it('says the key is missing, or nothing when it is set', () => {
    expect(provider.missing(configWith({}, [flag]))).toBe(`${env} is not set`);
    expect(provider.missing(configWith())).toBeUndefined();
  });
});

describe('missing', () => {
  it('needs SEARXNG_URL for searxng and nothing for duckduckgo or wikipedia', () => {
    const bare = configWith({}, Object.keys(fakes.flags));
    expect(searxngProvider.missing(bare)).toBe('SEARXNG_URL is not set');
    expect(searxngProvider.missing(configWith())).toBeUndefined();
    expect(duckduckgoProvider.missing(bare)).toBeUndefined();
    expect(wikipediaProvider.missing(bare)).toBeUndefined();
  });
});

describe('common helpers', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('writes domain filters as site: operators', () => {
    expect(withSiteFilters('q', [], [])).toBe('q');
    expect(withSiteFilters('q', ['a.org'], ['b.org', 'c.org'])).toBe('q site:a.org -site:b.org -site:c.org');
    expect(withSiteFilters('q', ['a.org', '*.b.org'], [])).toBe('q (site:a.org OR site:b.org)');
  });

  it('normalizes provider dates to ISO where they can be read', () => {
    expect(normalizeDate('Mar 5, 2024')).toBe('2024-03-05');
    expect(normalizeDate('5 March 2024')).toBe('2024-03-05');
    expect(normalizeDate('2024-03-05T00:00:00.0000000')).toBe('2024-03-05');
    expect(normalizeDate('2024-03-05T10:00:00')).toBe('2024-03-05T10:00:00.000Z');
    expect(normalizeDate('2024-03-05T10:00:00+0200')).toBe('2024-03-05T08:00:00.000Z');
    expect(normalizeDate('2023-11-16T01:36:32.547Z')).toBe('2023-11-16T01:36:32.547Z');
    expect(normalizeDate('Tue, 05 Mar 2024 10:00:00 GMT')).toBe('2024-03-05T10:00:00.000Z');
    expect(normalizeDate('3 days ago')).toBe('3 days ago');
    expect(normalizeDate(null)).toBeUndefined();
  });

  it('finds the window that holds a page for providers without offsets', () => {
    expect(pageWindow({ num: 10, page: 1 }, 20)).toEqual({ ask: 10, skip: 0 });
    expect(pageWindow({ num: 10, page: 2 }, 20)).toEqual({ ask: 20, skip: 10 });
    expect(pageWindow({ num: 15, page: 2 }, 20)).toEqual({ ask: 20, skip: 15 });
  });

  it('counts time ranges back from now', () => {
    const now = new Date('2025-03-31T12:00:00Z');
    expect(sinceDate('hour', now).toISOString()).toBe('2025-03-31T11:00:00.000Z');
    expect(sinceDate('week', now).toISOString()).toBe('2025-03-24T12:00:00.000Z');
    expect(sinceDate('year', now).toISOString()).toBe('2024-03-31T12:00:00.000Z');
  });

  it('turns HTML fragments into text', () => {
    expect(plainText('<span class="searchmatch">A</span> &amp; B&nbsp;&#x27;c&#39;')).toBe("A & B 'c'");
  });
});
