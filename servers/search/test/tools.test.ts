import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadConfig } from '@fathom/core';
import { connectInMemory, rawToolList, rawToolList2026, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { outputChecker } from '../../../tests/outputs.js';
import { startExtractionModel } from '../../../tests/fixtures/extraction-model.js';
import { refusingOrigin, startProviderFakes } from '../../../tests/fixtures/providers.js';
import type { ProviderFakes } from '../../../tests/fixtures/providers.js';
import { startFixtureSite } from '../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../tests/fixtures/site.js';
import { configSchema } from '../src/config.js';
import type { Config } from '../src/config.js';
import { createServer, definition } from '../src/server.js';

let fakes: ProviderFakes;
let site: FixtureSite;
let model: Awaited<ReturnType<typeof startExtractionModel>>;

function config(flags: Record<string, string> = {}): Config {
  return loadConfig(configSchema, {
    server: 'search',
    flags: { ...fakes.flags, 'egress-allow': '127.0.0.1', 'cache-mode': 'off', ...flags },
    env: {},
    cwd: tmpdir(),
  });
}

async function connect(flags: Record<string, string> = {}, endpoint?: string): Promise<InMemoryConnection> {
  return connectInMemory(await createServer(config(flags), undefined, endpoint));
}

async function call(connection: InMemoryConnection, name: string, args: Record<string, unknown>) {
  const result = await connection.client.callTool({ name, arguments: args });
  return { text: textOf(result), structured: result.structuredContent as Record<string, unknown> | undefined, isError: result.isError === true };
}

beforeAll(async () => {
  [fakes, site, model] = await Promise.all([startProviderFakes(), startFixtureSite(), startExtractionModel({ reply: 'The catalogue code is in the text.' })]);
});

beforeEach(() => fakes.reset());

afterAll(async () => {
  await definition.shutdown();
  await Promise.all([fakes?.close(), site?.close(), model?.close()]);
});

describe('search server, default profile', () => {
  let connection: InMemoryConnection;
  beforeAll(async () => {
    connection = await connect();
  });
  afterAll(() => connection.close());

  it('lists web_search, web_fetch and extract', async () => {
    const { tools } = await connection.client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['web_search', 'web_fetch', 'extract']);
  });

  it('searches and returns normalized results and a compact list', async () => {
    const found = await call(connection, 'web_search', { query: 'tidal power', num: 3, region: 'gb', language: 'en', time_range: 'week' });
    expect(found.isError).toBe(false);
    expect(found.structured).toMatchObject({ query: 'tidal power', provider: 'serper' });
    const results = found.structured?.results as { rank: number; provider: string; id: string }[];
    expect(results).toHaveLength(3);
    expect(results.map((result) => result.rank)).toEqual([1, 2, 3]);
    expect(results[0]!.id).toMatch(/^[0-9a-f]{12}$/);
    expect(found.text).toMatch(/^3 results from serper for "tidal power":\n\n1\. /);
    const sent = fakes.requests.find((entry) => entry.provider === 'serper')!;
    expect(sent.body).toMatchObject({ q: 'tidal power', num: 3, gl: 'gb', hl: 'en', tbs: 'qdr:w' });
  });

  it('uses one provider when asked', async () => {
    const found = await call(connection, 'web_search', { query: 'wiki things', provider: 'wikipedia' });
    expect(found.structured?.provider).toBe('wikipedia');
  });

  it('rejects empty and huge queries and unknown providers clearly', async () => {
    expect((await call(connection, 'web_search', { query: '   ' })).text).toContain('The query is empty');
    expect((await call(connection, 'web_search', { query: 'x'.repeat(3000) })).text).toContain('longer than 2,000 characters');
    const unknown = await call(connection, 'web_search', { query: 'x', provider: 'altavista' });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toContain('serper');
  });

  it('fetches a page as markdown with its metadata, in parts', async () => {
    const article = site.articles[0]!;
    const page = await call(connection, 'web_fetch', { url: `${site.url}${article.path}`, max_chars: 1000 });
    expect(page.isError).toBe(false);
    expect(page.text.startsWith(`# ${article.title}`)).toBe(true);
    expect(page.structured).toMatchObject({ title: article.title, final_url: `${site.url}${article.path}` });
    const cursor = page.structured?.next_cursor as string;
    expect(cursor).toBeTruthy();
    let all = page.text;
    let next: string | undefined = cursor;
    while (next) {
      const part = await call(connection, 'web_fetch', { url: `${site.url}${article.path}`, max_chars: 1000, cursor: next });
      all += part.text;
      next = part.structured?.next_cursor as string | undefined;
    }
    expect(all).toContain(article.fact);
  });

  it('finds pages it fetched before in its local index, offline', async () => {
    const article = site.articles[6]!;
    await call(connection, 'web_fetch', { url: `${site.url}${article.path}` });
    const found = await call(connection, 'web_search', { query: article.code, provider: 'local' });
    const results = found.structured?.results as { url: string; provider: string }[];
    expect(results[0]).toMatchObject({ url: `${site.url}${article.path}`, provider: 'local' });
  });

  it('returns only the matching passages with find', async () => {
    const article = site.articles[1]!;
    const found = await call(connection, 'web_fetch', { url: `${site.url}${article.path}`, find: article.code });
    expect(found.structured?.matches).toBe(1);
    expect(found.text).toContain(article.fact);
    expect(found.text.length).toBeLessThan(1500);
  });

  it('refuses private addresses, other schemes and binary content with a way out', async () => {
    const metadata = await call(connection, 'web_fetch', { url: 'http://169.254.169.254/latest/meta-data/' });
    expect(metadata.isError).toBe(true);
    const file = await call(connection, 'web_fetch', { url: 'file:///etc/passwd' });
    expect(file.isError).toBe(true);
    expect(file.text).toMatch(/files server|http/i);
    const image = await call(connection, 'web_fetch', { url: `${site.url}/images/photo.png` });
    expect(image.isError).toBe(true);
    expect(image.text).toContain('image/png');
  });

  it('extracts with BM25 passages when no model is configured, and says so', async () => {
    const article = site.articles[2]!;
    const answer = await call(connection, 'extract', { url: `${site.url}${article.path}`, question: `Which catalogue entry records the measurement at this place? ${article.code}` });
    expect(answer.structured).toMatchObject({ method: 'passages', tokens_used: 0 });
    expect(answer.text).toContain('ranked by BM25');
    expect(answer.text).toContain(article.code);
  });

  it('answers every tool with structuredContent that validates against the outputSchema it advertises', async () => {
    const checker = await outputChecker(connection.client);
    const article = site.articles[4]!;
    await checker.call('web_search', { query: 'tidal power', num: 3 });
    await checker.call('web_search', { query: article.code, provider: 'local' });
    await checker.call('web_fetch', { url: `${site.url}${article.path}`, max_chars: 1000 });
    await checker.call('web_fetch', { url: `${site.url}${article.path}`, find: article.code, format: 'text' });
    await checker.call('extract', { url: `${site.url}${article.path}`, question: `Which entry is ${article.code}?` });
    expect(checker.unchecked()).toEqual([]);
  });

  it('extracts with the configured model', async () => {
    const withModel = await connect({ 'summary-llm-base-url': model.baseUrl, 'summary-llm-model-name': 'extractor-1' });
    const article = site.articles[3]!;
    const answer = await call(withModel, 'extract', { url: `${site.url}${article.path}`, question: 'What is the catalogue code?' });
    expect(answer.structured).toMatchObject({ method: 'llm', model: 'extractor-1' });
    expect(answer.text).toContain('The catalogue code is in the text.');
    await withModel.close();
  });
});

describe('search server, mirothinker profile', () => {
  const trained = (
    JSON.parse(readFileSync(new URL('../../../core/protocol/mirothinker-tools.json', import.meta.url), 'utf8')) as {
      servers: { server: string; tools: { name: string; description: string; inputSchema: unknown }[] }[];
    }
  ).servers;
  let connection: InMemoryConnection;
  beforeAll(async () => {
    connection = await connect({ profile: 'mirothinker' });
  });
  afterAll(() => connection.close());

  it('advertises google_search and scrape_and_extract_info exactly as trained, also as two named endpoints', async () => {
    const expected = ['search_and_scrape_webpage', 'jina_scrape_llm_summary'].flatMap((name) => trained.find((server) => server.server === name)!.tools);
    const wire = await rawToolList(await createServer(config({ profile: 'mirothinker' })));
    expect(wire.map((tool) => JSON.stringify({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema }))).toEqual(
      expected.map((tool) => JSON.stringify(tool)),
    );
    // A 2026-era request gets the same tools, byte for byte.
    expect(JSON.stringify(await rawToolList2026(() => createServer(config({ profile: 'mirothinker' }))))).toBe(JSON.stringify(wire));
    const searchOnly = await rawToolList(await createServer(config({ profile: 'mirothinker' }), undefined, 'search_and_scrape_webpage'));
    expect(searchOnly.map((tool) => tool.name)).toEqual(['google_search']);
    const scrapeOnly = await rawToolList(await createServer(config({ profile: 'mirothinker' }), undefined, 'jina_scrape_llm_summary'));
    expect(scrapeOnly.map((tool) => tool.name)).toEqual(['scrape_and_extract_info']);
  });

  it('answers google_search in Serper\'s shape, as Python\'s json.dumps writes it, without HuggingFace datasets', async () => {
    const text = (await call(connection, 'google_search', { q: 'benchmark datasets for agents', num: 4 })).text;
    expect(text.startsWith('{"organic": [{"title": ')).toBe(true);
    expect(text).toContain('", "link": "');
    const parsed = JSON.parse(text) as { organic: { link: string; position: number }[]; searchParameters: Record<string, unknown> };
    expect(parsed.organic.some((item) => item.link.includes('huggingface.co/datasets'))).toBe(false);
    expect(parsed.organic.map((item) => item.position)).toEqual(parsed.organic.map((_, index) => index + 1));
    expect(parsed.searchParameters).toMatchObject({ q: 'benchmark datasets for agents', gl: 'us', hl: 'en', type: 'search', num: 4, engine: 'google' });
    expect(Object.keys(parsed)).toEqual(['organic', 'searchParameters']);
  });

  it('retries a quoted query without its quotes when nothing is found', async () => {
    fakes.script('serper', { status: 200, body: { organic: [], searchParameters: {} } });
    const text = (await call(connection, 'google_search', { q: '"exact phrase nowhere"' })).text;
    const parsed = JSON.parse(text) as { organic: unknown[]; searchParameters: { q: string } };
    expect(parsed.searchParameters.q).toBe('exact phrase nowhere');
    expect(parsed.organic.length).toBeGreaterThan(0);
    const queries = fakes.requests.filter((entry) => entry.provider === 'serper').map((entry) => (entry.body as { q: string }).q);
    expect(queries).toEqual(['"exact phrase nowhere"', 'exact phrase nowhere']);
  });

  it('answers errors in the trained shape', async () => {
    expect((await call(connection, 'google_search', { q: '  ' })).text).toBe(
      '{"success": false, "error": "Search query \'q\' is required and cannot be empty", "results": []}',
    );
  });

  it('scrapes and extracts into the trained JSON envelope, with the no-model fallback', async () => {
    const article = site.articles[4]!;
    const text = (await call(connection, 'scrape_and_extract_info', { url: `${site.url}${article.path}`, info_to_extract: `the catalogue entry ${article.code}` })).text;
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['success', 'url', 'extracted_info', 'error', 'scrape_stats', 'model_used', 'tokens_used', 'note']);
    expect(parsed).toMatchObject({ success: true, url: `${site.url}${article.path}`, error: '', model_used: 'none (BM25 passages)', tokens_used: 0 });
    // Passages found without a model say so, so that the model does not read them as an extraction.
    expect(parsed.note).toMatch(/^No extraction model is configured .*not an answer to it\.$/);
    expect(parsed.extracted_info).toContain(article.code);
    expect(parsed.scrape_stats).toMatchObject({ all_content_displayed: true });
    const failed = JSON.parse((await call(connection, 'scrape_and_extract_info', { url: `${site.url}/status/404`, info_to_extract: 'x' })).text) as Record<string, unknown>;
    // MiroThinker's current failure envelope: its wording, and no model_used key.
    expect(Object.keys(failed)).toEqual(['success', 'url', 'extracted_info', 'error', 'scrape_stats', 'tokens_used']);
    expect(failed).toMatchObject({ success: false, extracted_info: '', scrape_stats: {}, tokens_used: 0 });
    expect(String(failed.error)).toMatch(/^Scraping failed \(both Jina and Python\): /);
    const leak = JSON.parse((await call(connection, 'scrape_and_extract_info', { url: 'https://huggingface.co/datasets/gaia-benchmark/GAIA', info_to_extract: 'answers' })).text) as Record<string, unknown>;
    expect(leak.error).toBe('You are trying to scrape a Hugging Face dataset for answers, please do not use the scrape tool for this purpose.');
  });

  it('words a failed scrape as the release did, an empty URL too', async () => {
    const error = async (connection: InMemoryConnection, url: string) =>
      (JSON.parse((await call(connection, 'scrape_and_extract_info', { url, info_to_extract: 'x' })).text) as { error: string }).error;
    expect(await error(connection, '  ')).toBe('Scraping failed (both Jina and Python): URL cannot be empty');
    const v1 = await connect({ profile: 'mirothinker', 'mirothinker-release': 'v1.0' });
    expect(await error(v1, '')).toBe('Scraping failed: URL cannot be empty');
    expect(await error(v1, `${site.url}/status/404`)).toMatch(/^Scraping failed: \S/);
    await v1.close();
  });

  it('sends the trained extraction prompt to the model', async () => {
    const withModel = await connect({ profile: 'mirothinker', 'summary-llm-base-url': model.baseUrl, 'summary-llm-model-name': 'extractor-1' });
    const article = site.articles[5]!;
    const parsed = JSON.parse((await call(withModel, 'scrape_and_extract_info', { url: `${site.url}${article.path}`, info_to_extract: 'the code' })).text) as Record<string, unknown>;
    expect(parsed).toMatchObject({ success: true, extracted_info: 'The catalogue code is in the text.', model_used: 'extractor-1' });
    const prompt = (model.requests.at(-1)!.body as { messages: { content: string }[] }).messages[0]!.content;
    expect(prompt.startsWith('You are given a piece of content and the requirement of information to extract.')).toBe(true);
    expect(prompt).toContain('INFORMATION TO EXTRACT:\nthe code\n');
    expect(prompt).toContain(article.fact);
    // The content reaches the extractor as Jina Reader's answer gives it to MiroThinker's.
    expect(prompt).toMatch(new RegExp(`\\nTitle: [^\\n]+\\n\\nURL Source: ${site.url}${article.path}\\n\\n(Published Time: [^\\n]+\\n\\n)?Markdown Content:\\n`));
    await withModel.close();
  });

  it('drops every result MiroThinker bans (Hugging Face datasets and spaces, unifuncs)', async () => {
    const item = (link: string, position: number) => ({ title: `T${position}`, link, snippet: 's', position });
    fakes.script('serper', {
      status: 200,
      body: {
        organic: [item('https://unifuncs.com/answers/x', 1), item('https://huggingface.co/spaces/a/b', 2), item('https://huggingface.co/datasets/c', 3), item('https://example.org/kept', 4)],
        searchParameters: {},
      },
    });
    const parsed = JSON.parse((await call(connection, 'google_search', { q: 'banned results' })).text) as { organic: { link: string }[] };
    expect(parsed.organic.map((entry) => entry.link)).toEqual(['https://example.org/kept']);
  });

  it('writes v1.0-era results indented, as the MCP SDK\'s FastMCP wrote a dict, byte for byte', async () => {
    const v1 = await connect({ profile: 'mirothinker', 'mirothinker-release': 'v1.0' });
    const text = (await call(v1, 'google_search', { q: 'indented café results', num: 2 })).text;
    const python = execFileSync('python3', ['-c', 'import json,sys; print(json.dumps(json.loads(sys.stdin.read()), indent=2, ensure_ascii=False), end="")'], { input: text, encoding: 'utf8' });
    expect(text).toBe(python);
    expect(text.startsWith('{\n  "organic": [\n    {\n      "title": ')).toBe(true);
    const empty = (await call(v1, 'google_search', { q: ' ' })).text;
    expect(empty).toBe('{\n  "success": false,\n  "error": "Search query \'q\' is required and cannot be empty",\n  "results": []\n}');
    await v1.close();
  });

  it('writes each release\'s form of both tools byte for byte as Python does: v1.0 indented, v1.5 and 1.7 compact, ensure_ascii off', async () => {
    const dumps = (text: string, indent: boolean) =>
      execFileSync('/usr/bin/python3', ['-c', `import json,sys; print(json.dumps(json.loads(sys.stdin.read()), ensure_ascii=False${indent ? ', indent=2' : ''}), end="")`], {
        input: text,
        encoding: 'utf8',
      });
    const article = site.articles[7]!;
    for (const release of ['v1.0', 'v1.5', '1.7', undefined]) {
      const era = await connect({ profile: 'mirothinker', ...(release ? { 'mirothinker-release': release } : {}) });
      const indented = release === 'v1.0';
      const search = (await call(era, 'google_search', { q: 'Zürich café “quotes”', num: 2 })).text;
      const scrape = (await call(era, 'scrape_and_extract_info', { url: `${site.url}${article.path}`, info_to_extract: 'naïve question' })).text;
      const failed = (await call(era, 'scrape_and_extract_info', { url: `${site.url}/status/404`, info_to_extract: 'x' })).text;
      for (const text of [search, scrape, failed]) expect(text).toBe(dumps(text, indented));
      expect(search).toContain('Zürich café “quotes”');
      expect(search.startsWith(indented ? '{\n  "organic": [\n' : '{"organic": [{')).toBe(true);
      expect(failed.startsWith(indented ? '{\n  "success": false,\n  "url": ' : '{"success": false, "url": ')).toBe(true);
      await era.close();
    }
    const fromEnv = loadConfig(configSchema, { server: 'search', flags: {}, env: { FATHOM_MIROTHINKER_RELEASE: 'v1.0' }, cwd: tmpdir() });
    expect(fromEnv.mirothinkerRelease).toBe('v1.0');
    expect(() => loadConfig(configSchema, { server: 'search', flags: { 'mirothinker-release': 'v2' }, env: {}, cwd: tmpdir() })).toThrow(/v1\.0.*v1\.5.*1\.7/);
  });

  it('passes a custom tbs to Serper, refuses it where no provider applies it, and names a provider other than Google', async () => {
    const range = 'cdr:1,cd_min:1/1/2020,cd_max:12/31/2020';
    const parsed = JSON.parse((await call(connection, 'google_search', { q: 'dated results', tbs: range })).text) as { searchParameters: { tbs?: string } };
    expect(parsed.searchParameters.tbs).toBe(range);
    expect((fakes.requests.filter((entry) => entry.provider === 'serper').at(-1)!.body as { tbs?: string }).tbs).toBe(range);
    const brave = await connect({ profile: 'mirothinker', 'search-providers': 'brave' });
    const refused = JSON.parse((await call(brave, 'google_search', { q: 'dated results', tbs: range })).text) as { success: boolean; error: string };
    expect(refused).toMatchObject({ success: false });
    expect(refused.error).toContain(`Unsupported tbs value '${range}'`);
    const other = JSON.parse((await call(brave, 'google_search', { q: 'which engine answered', tbs: 'qdr:w' })).text) as { searchParameters: { engine: string } };
    expect(other.searchParameters.engine).toBe('brave');
    await brave.close();
  });

  it('echoes in searchParameters only what the answering provider applied', async () => {
    const onSerper = JSON.parse((await call(connection, 'google_search', { q: 'applied filters', tbs: 'qdr:h', location: 'Austin, Texas, United States', autocorrect: false })).text) as {
      searchParameters: Record<string, unknown>;
    };
    expect(onSerper.searchParameters).toMatchObject({ tbs: 'qdr:h', location: 'Austin, Texas, United States', autocorrect: false, engine: 'google' });
    const ddg = await connect({ profile: 'mirothinker', 'search-providers': 'duckduckgo' });
    const widened = JSON.parse((await call(ddg, 'google_search', { q: 'applied filters', tbs: 'qdr:h', location: 'Austin, Texas, United States', autocorrect: false })).text) as {
      searchParameters: Record<string, unknown>;
    };
    // DuckDuckGo's shortest range is a day, and it takes no place or autocorrect setting.
    expect((fakes.requests.filter((entry) => entry.provider === 'duckduckgo').at(-1)!.body as Record<string, string>).df).toBe('d');
    expect(widened.searchParameters).toMatchObject({ tbs: 'qdr:d', engine: 'duckduckgo' });
    expect(widened.searchParameters).not.toHaveProperty('location');
    expect(widened.searchParameters).not.toHaveProperty('autocorrect');
    await ddg.close();
    const wiki = await connect({ profile: 'mirothinker', 'search-providers': 'wikipedia' });
    const unfiltered = JSON.parse((await call(wiki, 'google_search', { q: 'applied filters', tbs: 'qdr:w' })).text) as { organic: unknown[]; searchParameters: Record<string, unknown> };
    expect(unfiltered.organic.length).toBeGreaterThan(0);
    expect(unfiltered.searchParameters).toMatchObject({ engine: 'wikipedia' });
    expect(unfiltered.searchParameters).not.toHaveProperty('tbs');
    await wiki.close();
  });

  it('says no provider could be reached instead of an empty list, in the trained error shape, and keeps a real empty answer', async () => {
    const refusing = await refusingOrigin();
    // What a machine with no provider key meets offline: DuckDuckGo refused, then an empty local index.
    const offline = await connect({ profile: 'mirothinker', 'search-providers': 'duckduckgo,local', 'duckduckgo-url': refusing });
    const parsed = JSON.parse((await call(offline, 'google_search', { q: 'anything at all' })).text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['success', 'error', 'results']);
    expect(parsed).toMatchObject({ success: false, results: [] });
    expect(String(parsed.error)).toMatch(/^Unexpected error: No search provider answered: duckduckgo: .*connection was refused.*; local: no results/);
    await offline.close();
    const web = await connect({ 'search-providers': 'duckduckgo,local', 'duckduckgo-url': refusing });
    const answer = await call(web, 'web_search', { query: 'anything at all' });
    expect(answer.isError).toBe(true);
    expect(answer.text).toMatch(/^No search provider answered: duckduckgo: .*connection was refused.*; local: no results/);
    await web.close();

    // A provider that answers an empty list is a real "nothing found", in both profiles.
    const empty = { status: 200, body: { organic: [], searchParameters: {} } };
    fakes.script('serper', empty);
    expect(JSON.parse((await call(connection, 'google_search', { q: 'nothing matches this' })).text)).toEqual({
      organic: [],
      searchParameters: { q: 'nothing matches this', gl: 'us', hl: 'en', type: 'search', num: 10, engine: 'google' },
    });
    const plain = await connect();
    fakes.script('serper', empty);
    const none = await call(plain, 'web_search', { query: 'nothing matches this' });
    expect(none.isError).toBe(false);
    expect(none.text).toMatch(/^0 results from serper for "nothing matches this"\. Try other words/);
    await plain.close();
  });
});
