import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startJinaFake } from '../../../../tests/fixtures/providers.js';
import type { JinaFake } from '../../../../tests/fixtures/providers.js';
import { startFixtureSite } from '../../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../../tests/fixtures/site.js';
import { definition } from '../../src/server.js';
import { searchClient } from './helpers.js';
import type { SearchClient } from './helpers.js';

let site: FixtureSite;
let jina: JinaFake;
const dir = mkdtempSync(join(tmpdir(), 'fathom-search-index-reach-'));
const clients: SearchClient[] = [];

const FOLDER_WORD = 'quillwort';
const FOLDER_NOTE = `# Brackenfold tally\n\nThe ${FOLDER_WORD} count at Brackenfold was 8123 this spring.\n`;

async function client(flags: Record<string, string>): Promise<SearchClient> {
  const created = await searchClient(flags);
  clients.push(created);
  return created;
}

/** The URLs `web_search` lists, with the text it shows. */
async function search(server: SearchClient, query: string, provider?: string) {
  const answer = await server.call('web_search', { query, ...(provider ? { provider } : {}) });
  expect(answer.isError, answer.text).toBe(false);
  const results = (answer.structured?.results ?? []) as Array<{ url: string; title: string }>;
  return { text: answer.text, urls: results.map((result) => result.url) };
}

/** The links `google_search` (mirothinker profile) lists, with its raw text. */
async function googleSearch(server: SearchClient, q: string) {
  const answer = await server.call('google_search', { q });
  expect(answer.isError, answer.text).toBe(false);
  const organic = ((JSON.parse(answer.text) as { organic?: Array<{ link: string }> }).organic ?? []).map((item) => item.link);
  return { text: answer.text, links: organic };
}

function noteFolder(name: string): string {
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'tally.md'), FOLDER_NOTE);
  return folder;
}

beforeAll(async () => {
  [site, jina] = await Promise.all([startFixtureSite(), startJinaFake()]);
});

afterAll(async () => {
  await Promise.all(clients.map((created) => created.close()));
  await definition.shutdown();
  await Promise.all([site.close(), jina.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('two search servers sharing one index (beside one cache file)', () => {
  it('a strict server does not list a loopback page a permissive one indexed; operator folders stay listed', async () => {
    const cacheFolder = join(dir, 'shared');
    const shared = { 'cache-mode': 'normal', 'cache-path': join(cacheFolder, 'cache.sqlite') };
    const folder = noteFolder('notes');
    // No provider is configured and DuckDuckGo answers 404 here, so the default chain ends at the local index.
    const chain = { 'duckduckgo-url': `${site.url}/no-search` };
    const permissive = await client({ ...shared, 'egress-allow': '127.0.0.1', 'local-folders': folder });
    const strict = await client({ ...shared, ...chain });
    const samePolicy = await client({ ...shared, 'egress-allow': '127.0.0.0/8' });
    const otherRange = await client({ ...shared, 'egress-allow': '10.0.0.0/8' });
    const mirothinker = await client({ ...shared, ...chain, profile: 'mirothinker' });
    const article = site.articles[4]!;
    const url = `${site.url}${article.path}`;

    const page = await permissive.fetch(url);
    expect(page.isError, page.text).toBe(false);
    expect(page.text).toContain(article.code);

    // The witness: the server that fetched it, and one that may reach the same address, find it.
    expect((await search(permissive, article.code, 'local')).urls).toEqual([url]);
    expect((await search(samePolicy, article.code, 'local')).urls).toEqual([url]);

    // The operator's folder (indexed by the permissive server) is listed to everyone.
    await vi.waitFor(async () => expect((await search(strict, FOLDER_WORD, 'local')).urls).toHaveLength(1), { timeout: 20_000, interval: 50 });

    for (const server of [strict, otherRange]) {
      const local = await search(server, article.code, 'local');
      expect(local.urls).toEqual([]);
      expect(local.text).toMatch(/^0 results from local/);
      expect(local.text).not.toContain(article.fact);
      expect(local.text).not.toContain(article.title);
      expect(local.text).not.toContain(site.url);
    }
    // Every web provider failed and the local index had nothing: said as such, not as "0 results".
    const chained = await strict.call('web_search', { query: article.code });
    expect(chained.isError).toBe(true);
    expect(chained.text).toMatch(/^No search provider answered: duckduckgo: .*; local: no results/);
    expect(chained.text).not.toContain(site.url);
    expect((await search(strict, FOLDER_WORD)).text).toMatch(/^1 result from local/);

    const trained = await googleSearch(mirothinker, article.code);
    expect(trained.links).toEqual([]);
    expect(trained.text).not.toContain(article.fact);
    expect(trained.text).not.toContain(article.title);
    expect(trained.text).not.toContain(site.url);
    expect((await googleSearch(mirothinker, FOLDER_WORD)).links).toHaveLength(1);

    // A strict server may still fetch the page itself only to meet the guard's refusal.
    const refused = await strict.fetch(url);
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/127\.0\.0\.1 is a loopback address/);
  });

  it('a page read through Jina Reader is listed by the addresses its target was checked at', async () => {
    const shared = { 'cache-mode': 'normal', 'cache-path': join(dir, 'jina', 'cache.sqlite'), ...jina.flags };
    const permissive = await client({ ...shared, 'egress-allow': '127.0.0.1' });
    const strict = await client(shared);
    const url = `${site.url}/articles/12.html`;

    const page = await permissive.fetch(url);
    expect(page.text).toContain(`Jina read ${url}`);
    expect(jina.requests).toEqual([url]);

    // The witness: the server that read it lists it.
    expect((await search(permissive, 'articles/12.html', 'local')).urls).toEqual([url]);
    const refused = await search(strict, 'articles/12.html', 'local');
    expect(refused.urls).toEqual([]);
    expect(refused.text).not.toContain('Jina read');
  });

  it('pages indexed before addresses were recorded are not listed to a server that refuses private addresses', async () => {
    const cacheFolder = join(dir, 'legacy');
    mkdirSync(cacheFolder, { recursive: true });
    const indexPath = join(cacheFolder, 'search-index.sqlite');
    writeLegacyIndex(indexPath, [
      { url: `${site.url}/intranet/roster.html`, title: 'Night roster', body: 'The marrowfat rota lists every night porter.', source: 'web' },
      { url: `file://${join(cacheFolder, 'memo.md')}`, title: 'Memo', body: 'The parsnip memo is on file.', source: 'folder' },
    ]);
    const shared = { 'cache-mode': 'normal', 'cache-path': join(cacheFolder, 'cache.sqlite') };
    const strict = await client(shared);
    const allowingHost = await client({ ...shared, 'egress-allow': '127.0.0.1' });
    const open = await client({ ...shared, 'allow-private-network': 'true' });

    expect((await search(strict, 'marrowfat', 'local')).urls).toEqual([]);
    expect((await search(allowingHost, 'marrowfat', 'local')).urls).toEqual([]);
    expect((await search(strict, 'parsnip', 'local')).urls).toHaveLength(1);
    // The witness: a server that may reach every address still finds the old page.
    expect((await search(open, 'marrowfat', 'local')).urls).toEqual([`${site.url}/intranet/roster.html`]);

    // The old file took the new column: pages fetched now are stored and found.
    const article = site.articles[7]!;
    expect((await allowingHost.fetch(`${site.url}${article.path}`)).isError).toBe(false);
    expect((await search(allowingHost, article.code, 'local')).urls).toEqual([`${site.url}${article.path}`]);
    expect((await search(strict, article.code, 'local')).urls).toEqual([]);
  });
});

/** An index file as the search server wrote it before it recorded where pages came from. */
function writeLegacyIndex(path: string, pages: Array<{ url: string; title: string; body: string; source: 'web' | 'folder' }>): void {
  const db = new DatabaseSync(path);
  db.exec(`
    CREATE TABLE pages (
      id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, url TEXT NOT NULL, title TEXT NOT NULL, markdown TEXT NOT NULL,
      source TEXT NOT NULL, host TEXT, fetched_at TEXT NOT NULL, file_mtime_ms REAL, file_size INTEGER
    );
    CREATE INDEX pages_host ON pages (host);
    CREATE VIRTUAL TABLE pages_fts USING fts5(title, body, tokenize = 'porter unicode61 remove_diacritics 2');
  `);
  const insert = db.prepare('INSERT INTO pages (key, url, title, markdown, source, host, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id');
  const text = db.prepare('INSERT INTO pages_fts (rowid, title, body) VALUES (?, ?, ?)');
  for (const page of pages) {
    const host = page.source === 'web' ? new URL(page.url).hostname : null;
    const { id } = insert.get(page.url, page.url, page.title, page.body, page.source, host, new Date().toISOString()) as { id: number };
    text.run(id, page.title, page.body);
  }
  db.close();
}
