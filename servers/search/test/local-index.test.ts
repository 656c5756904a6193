import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger, isFathomError } from '@fathom/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import { LocalIndex, buildQuery } from '../src/index-store.js';
import { localProvider } from '../src/providers/local.js';
import type { SearchRequest } from '../src/types.js';
import { resultId } from '../src/urls.js';

function request(query: string, extra: Partial<SearchRequest> = {}): SearchRequest {
  return { query, num: 10, page: 1, includeDomains: [], excludeDomains: [], ...extra };
}

const temp = mkdtempSync(join(tmpdir(), 'fathom-index-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

let index: LocalIndex;
beforeEach(() => {
  index = LocalIndex.open(':memory:');
});
afterEach(() => index.close());

function addSamples(): void {
  index.addPage({
    url: 'https://en.example.org/wiki/Lighthouse',
    title: 'Bell Rock Lighthouse',
    markdown: '# Bell Rock Lighthouse\n\nThe **Bell Rock** lighthouse, off the coast of [Angus](https://en.example.org/wiki/Angus), is the oldest surviving sea-washed lighthouse in the world. It was built between 1807 and 1810 by Robert Stevenson.',
    fetchedAt: '2025-01-02T03:04:05.000Z',
    source: 'web',
  });
  index.addPage({
    url: 'https://blog.other.net/posts/keepers',
    title: 'Life of the keepers',
    markdown: 'Keepers of the rock lighthouse lived in shifts. The bell on the rock warned ships in fog before the light was lit.',
    source: 'web',
  });
  index.addPage({
    url: 'https://news.example.com/ferries',
    title: 'Ferry timetable changes',
    markdown: 'The harbour ferries will run every hour from May. The old pier near the lighthouse closes for repairs.',
    source: 'web',
  });
}

describe('LocalIndex', () => {
  it('finds pages by their words, best first, with snippets and ids', () => {
    addSamples();
    expect(index.count()).toBe(3);
    const results = index.search(request('Stevenson lighthouse'));
    expect(results[0]).toMatchObject({
      id: resultId('https://en.example.org/wiki/Lighthouse'),
      title: 'Bell Rock Lighthouse',
      url: 'https://en.example.org/wiki/Lighthouse',
      provider: 'local',
      rank: 1,
      published: '2025-01-02T03:04:05.000Z',
    });
    expect(results[0]!.snippet).toContain('Robert Stevenson');
    expect(results[0]!.snippet).not.toMatch(/\*\*|\]\(|https:/);
    expect(results.map((result) => result.rank)).toEqual([1, 2, 3]);
  });

  it('ranks pages holding every word above pages holding some, and matches other forms of a word', () => {
    addSamples();
    const results = index.search(request('ferries lighthouse'));
    expect(results[0]!.url).toBe('https://news.example.com/ferries');
    expect(results).toHaveLength(3);
    expect(index.search(request('ferry timetables'))[0]!.url).toBe('https://news.example.com/ferries');
    expect(index.search(request('Stévenson'))[0]!.url).toBe('https://en.example.org/wiki/Lighthouse');
  });

  it('matches a quoted phrase only where the words stand together', () => {
    addSamples();
    expect(index.search(request('bell rock')).map((result) => result.url).sort()).toEqual([
      'https://blog.other.net/posts/keepers',
      'https://en.example.org/wiki/Lighthouse',
    ]);
    expect(index.search(request('"bell rock"')).map((result) => result.url)).toEqual(['https://en.example.org/wiki/Lighthouse']);
    expect(index.search(request('"rock bell"'))).toEqual([]);
    expect(index.search(request('"rock lighthouse" keepers')).map((result) => result.url)).toEqual(['https://blog.other.net/posts/keepers']);
  });

  it('never lets a query form FTS syntax or throw', () => {
    addSamples();
    for (const query of ['"', '""', 'AND OR NOT', '*', 'light*', 'col:x', 'title:bell', '"unbalanced quote', 'bell"', '-bell', '(bell', 'NEAR(bell rock)', '^bell', 'the of and', '', '   ', '\'; DROP TABLE pages; --', 'bell + rock', '{title}: bell']) {
      expect(() => index.search(request(query)), query).not.toThrow();
    }
    expect(index.search(request('title:bell')).length).toBeGreaterThan(0);
    expect(buildQuery('AND OR NOT')).toEqual({ any: '"and or not"' });
    expect(buildQuery('col:x "a b" c')).toEqual({ any: '"a b" AND ("col" OR "x" OR "c")', all: '"a b" AND "col" AND "x" AND "c"' });
    expect(buildQuery('covid-19 in the U.S.')).toEqual({ any: '("covid 19" OR "u s")', all: '"covid 19" AND "u s"' });
    expect(buildQuery('" * - :')).toBeUndefined();
    expect(index.search(request('*'))).toEqual([]);
  });

  it('searches a query of stop words alone as a phrase', () => {
    index.addPage({ url: 'https://plays.example/hamlet', title: 'Hamlet', markdown: 'To be, or not to be, that is the question.', source: 'web' });
    index.addPage({ url: 'https://plays.example/other', title: 'Other', markdown: 'It is what it is, or so they say to me.', source: 'web' });
    expect(index.search(request('to be or not to be')).map((result) => result.url)).toEqual(['https://plays.example/hamlet']);
  });

  it('pages through results', () => {
    for (let i = 1; i <= 25; i++) {
      index.addPage({ url: `https://site.example/p${i}`, title: `Page ${i}`, markdown: `Common words about tides, page number ${i}.`, source: 'web' });
    }
    const first = index.search(request('tides', { num: 10, page: 1 }));
    const second = index.search(request('tides', { num: 10, page: 2 }));
    const third = index.search(request('tides', { num: 10, page: 3 }));
    expect([first.length, second.length, third.length]).toEqual([10, 10, 5]);
    expect(second.map((result) => result.rank)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const urls = [...first, ...second, ...third].map((result) => result.url);
    expect(new Set(urls).size).toBe(25);
  });

  it('applies domain filters to web pages', () => {
    addSamples();
    index.addPage({ url: 'file:///notes/lighthouse.md', title: 'My lighthouse notes', markdown: 'Notes on the lighthouse.', source: 'folder' });
    const urls = (extra: Partial<SearchRequest>) => index.search(request('lighthouse', extra)).map((result) => result.url).sort();
    expect(urls({ includeDomains: ['example.org'] })).toEqual(['https://en.example.org/wiki/Lighthouse']);
    expect(urls({ includeDomains: ['https://news.example.com/x', '*.other.net'] })).toEqual(['https://blog.other.net/posts/keepers', 'https://news.example.com/ferries']);
    expect(urls({ excludeDomains: ['example.org', 'example.com'] })).toEqual(['file:///notes/lighthouse.md', 'https://blog.other.net/posts/keepers']);
    expect(urls({ includeDomains: ['ample.org'] })).toEqual([]);
    expect(urls({ includeDomains: ['exa_ple.org', '%.org'] })).toEqual([]);
  });

  it('replaces a page stored under the same URL', () => {
    index.addPage({ url: 'https://www.site.example/a?utm_source=x', title: 'Old', markdown: 'pelican', source: 'web' });
    index.addPage({ url: 'https://site.example/a', title: 'New', markdown: 'albatross', source: 'web' });
    expect(index.count()).toBe(1);
    expect(index.search(request('pelican'))).toEqual([]);
    expect(index.search(request('albatross'))[0]!.title).toBe('New');
    expect(index.get('https://site.example/a')?.markdown).toBe('albatross');
  });

  it('stores long pages whole and indexes their first 2 MB', () => {
    const long = `${'filler text '.repeat(200_000)}needle at the end`;
    index.addPage({ url: 'https://big.example/', title: 'Big', markdown: `opening words ${long}`, source: 'web' });
    expect(index.get('https://big.example/')!.markdown.length).toBe(long.length + 'opening words '.length);
    expect(index.search(request('opening'))).toHaveLength(1);
    expect(index.search(request('needle'))).toEqual([]);
  });

  it('indexes text in scripts written without spaces', () => {
    index.addPage({ url: 'https://zh.example/a', title: '长江', markdown: '长江是中国最长的河流，全长约六千三百公里。', source: 'web' });
    const [hit] = index.search(request('最长的河流'));
    expect(hit?.url).toBe('https://zh.example/a');
    expect(hit!.snippet).toContain('长江是中国最长的河流');
    expect(index.search(request('河长'))).toEqual([]);
  });

  it('creates parent folders for a file and reopens what it stored', () => {
    const path = join(temp, 'deep', 'er', 'index.sqlite');
    const onDisk = LocalIndex.open(path);
    onDisk.addPage({ url: 'https://persist.example/', title: 'Kept', markdown: 'durable words', source: 'web' });
    onDisk.close();
    const again = LocalIndex.open(path);
    expect(again.search(request('durable'))[0]?.title).toBe('Kept');
    again.close();
  });
});

describe('LocalIndex.indexFolder', () => {
  const root = join(temp, 'docs');
  const outside = join(temp, 'outside');

  beforeEach(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(join(root, '.hidden'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(root, 'notes.md'), '# Field notes\n\nThe albatross glides for hours without flapping.\n');
    writeFileSync(join(root, 'sub', 'plain.txt'), 'Penguins cannot fly but swim fast.\n');
    writeFileSync(join(root, 'sub', 'page.html'), '<!doctype html><html><head><title>Puffin page</title></head><body><main><h1>Puffins</h1><p>Puffins nest in burrows on cliffs.</p></main></body></html>');
    writeFileSync(join(root, 'birds.csv'), 'bird,wingspan\ncondor,310\nswift,45\n');
    writeFileSync(join(root, 'photo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
    writeFileSync(join(root, '.hidden', 'secret.md'), 'hidden kestrel');
    writeFileSync(join(outside, 'secret.md'), 'The secret word is ocelot.\n');
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync(join(outside, 'secret.md'), join(root, 'escape.md'));
    symlinkSync(join(root, 'notes.md'), join(root, 'sub', 'again.md'));
  });

  it('converts the documents it can read, leaves the rest, and never follows links out of the folder', async () => {
    const counts = await index.indexFolder(root);
    expect(counts).toMatchObject({ files: 4, indexed: 4, unchanged: 0, failed: 0, removed: 0, truncated: false });
    expect(counts.skipped).toBe(3);
    expect(index.count()).toBe(4);
    expect(index.search(request('ocelot'))).toEqual([]);
    expect(index.search(request('kestrel'))).toEqual([]);

    const [notes] = index.search(request('albatross'));
    expect(notes).toMatchObject({ url: pathToFileURL(join(root, 'notes.md')).href, title: 'Field notes', provider: 'local' });
    expect(notes!.published).toBeUndefined();
    expect(notes!.extra).toMatchObject({ source: 'folder' });
    expect(index.search(request('penguins swim'))[0]!.url).toBe(pathToFileURL(join(root, 'sub', 'plain.txt')).href);
    expect(index.search(request('puffins burrows'))[0]!.title).toBe('Puffin page');
    expect(index.search(request('condor'))[0]!.url.endsWith('/birds.csv')).toBe(true);
  });

  it('skips unchanged files when indexing again, and drops pages of files that are gone', async () => {
    await index.indexFolder(root);
    writeFileSync(join(root, 'sub', 'plain.txt'), 'Penguins waddle on ice.\n');
    utimesSync(join(root, 'sub', 'plain.txt'), new Date(), new Date(Date.now() + 5000));
    unlinkSync(join(root, 'birds.csv'));
    const again = await index.indexFolder(root);
    expect(again).toMatchObject({ files: 3, indexed: 1, unchanged: 2, removed: 1 });
    expect(index.search(request('waddle'))).toHaveLength(1);
    expect(index.search(request('condor'))).toEqual([]);
  });

  it('stops at maxFiles and skips files over maxBytes', async () => {
    const limited = await index.indexFolder(root, { maxFiles: 2 });
    expect(limited).toMatchObject({ files: 2, truncated: true, removed: 0 });
    const small = LocalIndex.open(':memory:');
    const counts = await small.indexFolder(root, { maxBytes: 100 });
    expect(counts.indexed).toBe(3);
    expect(small.search(request('puffins'))).toEqual([]);
    small.close();
  });

  it('reports a folder that does not exist', async () => {
    await expect(index.indexFolder(join(temp, 'missing'))).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('localProvider', () => {
  it('is always ready and searches the index', async () => {
    addSamples();
    const provider = localProvider(index);
    const config = configSchema.parse({});
    expect(provider.name).toBe('local');
    expect(provider.missing(config)).toBeUndefined();
    const results = await provider.search(request('keepers'), { config, logger: createLogger('test', { level: 'silent' }), http: undefined as never });
    expect(results[0]).toMatchObject({ provider: 'local', rank: 1, url: 'https://blog.other.net/posts/keepers' });
  });
});

describe('LocalIndex.indexFolders (the first pass over the local folders)', () => {
  const root = join(temp, 'many');
  const FILES = 2000;
  const INDEXING = /^indexing: (?:[\d,]+ of 2,001 files indexed so far|the local folders are still being listed \([\d,]+ files? found so far\)); results may be incomplete, ask again shortly$/;
  const config = configSchema.parse({});
  const context = { config, logger: createLogger('test', { level: 'silent' }), http: undefined as never };

  beforeAll(() => {
    mkdirSync(root, { recursive: true });
    for (let i = 0; i < FILES; i++) writeFileSync(join(root, `entry-${String(i).padStart(4, '0')}.txt`), `Harbour log entry ${i}: calm sea.\n`);
    // Read last: a folder's files are read in name order.
    writeFileSync(join(root, 'zz-last.md'), '# Last entry\n\nA sighting of the osprey.\n');
  });

  it('a search at once waits for the pass and answers as soon as it ends', async () => {
    const pass = index.indexFolders([root]);
    // A wait far longer than the test's time limit: only the end of the pass can answer it in time.
    const provider = localProvider(index, pass, 10 * 60_000);
    const results = await provider.search(request('osprey'), context);
    expect(results.map((result) => result.url)).toEqual([pathToFileURL(join(root, 'zz-last.md')).href]);
    expect(await pass.settled(0)).toBe(true);
    expect(pass.note()).toBeUndefined();
    const [outcome] = await pass.finished;
    expect(outcome).toMatchObject({ folder: root, counts: { files: FILES + 1, indexed: FILES + 1, failed: 0 } });
  });

  it('a search the pass outlasts answers what is indexed, and says that indexing is under way when that is nothing', async () => {
    index.addPage({ url: 'https://birds.example/osprey', title: 'Osprey', markdown: 'The osprey dives for fish.', source: 'web' });
    const pass = index.indexFolders([root]);
    const provider = localProvider(index, pass, 0);
    expect((await provider.search(request('osprey'), context)).map((result) => result.title)).toEqual(['Osprey']);
    expect(pass.note()).toMatch(INDEXING);
    const refused = await provider.search(request('sighting'), context).catch((error: unknown) => error);
    expect(isFathomError(refused, 'unavailable')).toBe(true);
    expect((refused as Error).message).toMatch(INDEXING);

    await pass.finished;
    expect(pass.note()).toBeUndefined();
    expect((await provider.search(request('sighting'), context)).map((result) => result.title)).toEqual(['Last entry']);
    expect((await provider.search(request('osprey'), context)).map((result) => result.title).sort()).toEqual(['Last entry', 'Osprey']);
    expect(await provider.search(request('albatross'), context)).toEqual([]);
  });

  it('reports a folder it cannot read, and a pass stopped early leaves the index as it was', async () => {
    await index.indexFolders([root]).finished;
    expect(index.count()).toBe(FILES + 1);
    const pass = index.indexFolders([join(temp, 'no-such-folder'), root]);
    await pass.stop();
    const outcomes = await pass.finished;
    expect(outcomes[0]).toMatchObject({ folder: join(temp, 'no-such-folder'), error: { code: 'not_found' } });
    expect(outcomes.every((outcome) => !outcome.counts || outcome.counts.removed === 0)).toBe(true);
    expect(pass.note()).toBeUndefined();
    expect(index.count()).toBe(FILES + 1);
  });
});
