import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, httpClientFor, loadConfig, openCache } from '@fathom/core';
import { WorkerPool } from '@fathom/files/pool';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARTICLES, CHROME_TEXT, CSV_FILE, DOCX_TEXT, ENCODED_TEXT, startFixtureSite } from '../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../tests/fixtures/site.js';
import { configSchema } from '../src/config.js';
import { PageFetcher, parseJinaReader } from '../src/fetch.js';
import type { FetchedPage } from '../src/fetch.js';
import { fathomFailure } from '@fathom/core/testing';

const logger = createLogger('test', { level: 'silent' });
const pool = new WorkerPool({ size: 2, logger });
const workDir = mkdtempSync(join(tmpdir(), 'fathom-fetch-test-'));
const cleanups: Array<() => Promise<void>> = [];
let site: FixtureSite;
let fetcher: PageFetcher;

beforeAll(async () => {
  site = await startFixtureSite();
  fetcher = makeFetcher().fetcher;
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await site.close();
  await pool.close();
  rmSync(workDir, { recursive: true, force: true });
});

function makeFetcher(flags: Record<string, string | boolean> = {}) {
  const config = loadConfig(configSchema, {
    server: 'search',
    flags: { 'egress-allow': '127.0.0.1', 'cache-mode': 'off', ...flags },
    env: {},
    cwd: workDir,
  });
  const http = httpClientFor(config, logger);
  const cache = openCache(config);
  const fetcher = new PageFetcher({ config, http, cache, logger, pool });
  cleanups.push(async () => {
    await fetcher.close();
    await http.close();
    await cache.close();
  });
  return { fetcher, config };
}


const requestsFor = (path: string) => site.requests.filter((request) => request.path === path).length;

describe('HTML pages', () => {
  it('turns an article into markdown: the main text, without nav, sidebar or footer', async () => {
    const article = ARTICLES[0]!;
    const page = await fetcher.fetch(`${site.url}${article.path}`);
    expect(page).toMatchObject({
      url: `${site.url}${article.path}`,
      finalUrl: `${site.url}${article.path}`,
      canonicalUrl: `${site.url}/articles/1`,
      published: article.published,
      contentType: 'text/html; charset=utf-8',
      type: 'html',
      encoding: 'utf-8',
      via: 'direct',
      fromCache: false,
    });
    expect(page.title).toContain(article.title);
    expect(page.markdown).toContain(article.paragraphs[0]!.slice(0, 80));
    expect(page.markdown).toContain(article.code);
    expect(page.markdown).toContain(`## ${article.headings[1]}`);
    expect(page.markdown).toMatch(/\| Year \| .+ \| Station \|/);
    expect(page.markdown).toContain(`(${site.url}${ARTICLES[1]!.path})`);
    for (const text of Object.values(CHROME_TEXT)) expect(page.markdown).not.toContain(text);
    expect(page.html).toContain('<article>');
  });

  it('keeps the whole page with mainContent false', async () => {
    const page = await fetcher.fetch(`${site.url}${ARTICLES[1]!.path}`, { mainContent: false });
    expect(page.markdown).toContain(ARTICLES[1]!.code);
    for (const text of Object.values(CHROME_TEXT)) expect(page.markdown).toContain(text);
  });

  it('keeps a data table as a markdown table', async () => {
    const page = await fetcher.fetch(`${site.url}/data/table.html`);
    expect(page.markdown).toContain('Largest lakes by surface area');
    expect(page.markdown).toMatch(/\| Lake \| Area \(km²\) \| Max depth \(m\) \| Countries \|/);
    expect(page.markdown).toContain('| Baikal | 31,500 | 1,642 | Russia |');
    expect(page.canonicalUrl).toBe('https://example.org/lakes');
  });

  it('recognises HTML served without a content type, and gzip bodies', async () => {
    const sniffed = await fetcher.fetch(`${site.url}/sniff/page`);
    expect(sniffed.type).toBe('html');
    expect(sniffed.markdown).toContain(ARTICLES[4]!.code);
    const gzipped = await fetcher.fetch(`${site.url}/gzip.html`);
    expect(gzipped.markdown).toContain(ARTICLES[5]!.code);
  });

  it('sends a browser User-Agent and Accept header, and custom headers except Host', async () => {
    const { fetcher: own, config } = makeFetcher();
    await own.fetch(`${site.url}/articles/9.html`, { headers: { 'X-Test': 'yes', Host: 'evil.example' } });
    const request = site.requests.findLast((entry) => entry.path === '/articles/9.html')!;
    expect(request.headers['user-agent']).toBe(config.userAgent);
    expect(request.headers.accept).toContain('text/html');
    expect(request.headers['x-test']).toBe('yes');
    expect(request.headers.host).toBe(new URL(site.url).host);
  });
});

describe('character encodings', () => {
  it('decodes windows-1252 declared in the Content-Type header', async () => {
    const page = await fetcher.fetch(`${site.url}/charset/windows-1252.html`);
    expect(page.encoding).toBe('windows-1252');
    expect(page.markdown).toContain('crème brûlée à 12 €');
    expect(page.markdown).toContain('œuvre préférée… naïve');
  });

  it('decodes Shift_JIS declared only in <meta charset>', async () => {
    const page = await fetcher.fetch(`${site.url}/charset/shift_jis.html`);
    expect(page.encoding).toBe('shift_jis');
    expect(page.title).toBe('東京の天気');
    expect(page.markdown).toContain('東京の天気は晴れです。');
    expect(page.markdown).toContain('桜の花が咲いています');
  });

  it('decodes windows-1251 declared in <meta http-equiv>', async () => {
    const page = await fetcher.fetch(`${site.url}/charset/windows-1251.html`);
    expect(page.markdown).toContain('Москва — столица России');
    expect(page.markdown).toContain('лёгкий ветер');
  });

  it('reads UTF-8 labelled as ISO-8859-1 as UTF-8', async () => {
    const page = await fetcher.fetch(`${site.url}/charset/mislabelled.html`);
    expect(page.encoding).toBe('utf-8');
    expect(page.markdown).toContain(ENCODED_TEXT.mislabelled);
  });
});

describe('documents', () => {
  it('converts a PDF to text, page by page', async () => {
    const page = await fetcher.fetch(`${site.url}/docs/report.pdf`);
    expect(page).toMatchObject({ type: 'pdf', contentType: 'application/pdf', title: 'Coastal Erosion Survey 2023' });
    const text = page.markdown.replace(/\s+/g, ' ');
    expect(text).toContain('Cliff retreat averaged 1.4 metres');
    expect(text).toContain('<!-- page 3 --> Recommendations');
    expect(text).toContain('sediment budget');
    expect(page.markdown).toContain('Kestrel Point');
    expect(page.html).toBeUndefined();
  });

  it('recognises a PDF served as application/octet-stream', async () => {
    const page = await fetcher.fetch(`${site.url}/docs/report-octet`);
    expect(page.type).toBe('pdf');
    expect(page.markdown).toContain('Managed realignment');
  });

  it('converts DOCX, plain text, JSON, CSV and RSS', async () => {
    const word = await fetcher.fetch(`${site.url}/docs/memo.docx`);
    expect(word.type).toBe('docx');
    expect(word.markdown).toContain(DOCX_TEXT.body);
    const text = await fetcher.fetch(`${site.url}/files/notes.txt`);
    expect(text.type).toBe('text');
    expect(text.markdown).toContain('2.31 metres at noon');
    const json = await fetcher.fetch(`${site.url}/files/data.json`);
    expect(json.type).toBe('json');
    expect(json.markdown).toContain('Kestrel Point');
    const csv = await fetcher.fetch(`${site.url}/files/data.csv`);
    expect(csv.type).toBe('csv');
    expect(csv.markdown).toContain(CSV_FILE.split('\n')[2]!.split(',')[0]!);
    const feed = await fetcher.fetch(`${site.url}/feed.xml`);
    expect(feed.type).toBe('feed');
    expect(feed.markdown).toContain(ARTICLES[0]!.title);
  });

  it('reads text served as application/octet-stream', async () => {
    const page = await fetcher.fetch(`${site.url}/files/notes-octet.txt`);
    expect(page.markdown).toContain('Wind from the north-west');
  });

  it.each([
    ['/images/photo.png', 'image/png'],
    ['/images/photo-untyped', 'an image'],
    ['/files/blob.bin', 'application/octet-stream'],
    ['/media/clip.mp4', 'video/mp4'],
  ])('refuses %s as %s, not a document', async (path, named) => {
    const error = await fathomFailure(fetcher.fetch(`${site.url}${path}`));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain(named);
    expect(error.message).toContain('not a document');
    expect(error.hint).toContain('read_document');
  });
});

describe('redirects and addresses', () => {
  it('follows a 301 chain and a 302', async () => {
    const chain = await fetcher.fetch(`${site.url}/redirect/chain/3`);
    expect(chain.url).toBe(`${site.url}/redirect/chain/3`);
    expect(chain.finalUrl).toBe(`${site.url}/articles/1.html`);
    expect(chain.markdown).toContain(ARTICLES[0]!.code);
    const temporary = await fetcher.fetch(`${site.url}/redirect/temporary`);
    expect(temporary.finalUrl).toBe(`${site.url}/articles/2.html`);
  });

  it('stops a redirect loop with a clear error', async () => {
    const error = await fathomFailure(fetcher.fetch(`${site.url}/redirect/loop`));
    expect(error.code).toBe('upstream');
    expect(error.message).toMatch(/Too many redirects/);
  });

  it('refuses redirects to private and metadata addresses', async () => {
    const toPrivate = await fathomFailure(fetcher.fetch(`${site.url}/redirect/private`));
    expect(toPrivate.code).toBe('blocked_address');
    expect(toPrivate.message).toContain('10.0.0.1');
    const toMetadata = await fathomFailure(fetcher.fetch(`${site.url}/redirect/metadata`));
    expect(toMetadata.code).toBe('blocked_address');
    expect(toMetadata.message).toContain('169.254.169.254');
  });

  it('refuses private addresses given directly', async () => {
    expect((await fathomFailure(fetcher.fetch('http://10.0.0.1/'))).code).toBe('blocked_address');
    expect((await fathomFailure(fetcher.fetch('http://[::1]:8080/'))).code).toBe('blocked_address');
  });

  it.each(['file:///etc/passwd', 'ftp://example.com/file.txt', 'javascript:alert(1)', 'data:text/plain,hello', 'example.com/page'])(
    'refuses %s',
    async (url) => {
      const error = await fathomFailure(fetcher.fetch(url));
      expect(error.code).toBe('invalid_argument');
      expect(error.hint).toMatch(/https?:\/\//);
    },
  );
});

describe('failures', () => {
  it('maps 404 and 410 to not_found and 500 to upstream, with the status', async () => {
    const missing = await fathomFailure(fetcher.fetch(`${site.url}/no/such/page`));
    expect(missing.code).toBe('not_found');
    expect(missing.message).toContain('404');
    expect((await fathomFailure(fetcher.fetch(`${site.url}/status/410`))).code).toBe('not_found');
    const broken = await fathomFailure(fetcher.fetch(`${site.url}/status/500`));
    expect(broken.code).toBe('upstream');
    expect(broken.message).toContain('HTTP 500');
  });

  it('times out a slow page after fetchTimeoutSeconds, retries included', async () => {
    const { fetcher: impatient } = makeFetcher({ 'fetch-timeout-seconds': '1' });
    const started = Date.now();
    const error = await fathomFailure(impatient.fetch(`${site.url}/slow?ms=5000`));
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('1 s');
    expect(Date.now() - started).toBeLessThan(4500);
    const trickle = await fathomFailure(impatient.fetch(`${site.url}/trickle?ms=5000`));
    expect(trickle.code).toBe('timeout');
  });

  it('stops huge and endless pages at maxPageBytes, naming the limit', async () => {
    const { fetcher: small } = makeFetcher({ 'max-page-bytes': '100000' });
    for (const path of ['/huge?mb=30', '/huge?mb=30&chunked=1', '/endless']) {
      const error = await fathomFailure(small.fetch(`${site.url}${path}`));
      expect(error.code).toBe('too_large');
      expect(error.message).toContain('97.7 KiB limit');
      expect(error.hint).toContain('FATHOM_MAX_PAGE_BYTES');
    }
  });

  it('stops when the caller cancels', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await fathomFailure(fetcher.fetch(`${site.url}/slow?ms=5000`, { signal: controller.signal }));
    expect(error.code).toBe('cancelled');
  });
});

describe('robots.txt', () => {
  it('refuses a disallowed page and allows the allowed subpath, reading robots.txt once', async () => {
    const { fetcher: polite } = makeFetcher();
    const before = requestsFor('/robots.txt');
    const error = await fathomFailure(polite.fetch(`${site.url}/private/secret.html`));
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe(`${site.url}/private/secret.html is disallowed by robots.txt`);
    expect(error.hint).toContain('FATHOM_ROBOTS=false');
    const allowed = await polite.fetch(`${site.url}/private/ok.html`);
    expect(allowed.markdown).toContain(ARTICLES[2]!.code);
    await polite.fetch(`${site.url}/articles/3.html`);
    expect(requestsFor('/robots.txt') - before).toBe(1);
    expect(requestsFor('/private/secret.html')).toBe(0);
  });

  it('refuses a page that a redirect leads to when robots.txt disallows it', async () => {
    const error = await fathomFailure(fetcher.fetch(`${site.url}/redirect/to-private-dir`));
    expect(error.code).toBe('forbidden');
    expect(error.message).toBe(`${site.url}/private/secret.html is disallowed by robots.txt`);
  });

  it('fetches disallowed pages when robots is off', async () => {
    const { fetcher: rude } = makeFetcher({ robots: 'false' });
    const before = requestsFor('/robots.txt');
    const page = await rude.fetch(`${site.url}/private/secret.html`);
    expect(page.markdown).toContain('4711');
    expect(requestsFor('/robots.txt')).toBe(before);
  });

  it('allows everything when robots.txt fails', async () => {
    const flaky = createServer((req, res) => {
      if (req.url === '/robots.txt') return void res.destroy();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('Open to all.');
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => flaky.close(() => resolve())));
    const { port } = flaky.address() as AddressInfo;
    const page = await fetcher.fetch(`http://127.0.0.1:${port}/private/page.txt`);
    expect(page.markdown).toContain('Open to all.');
  });
});

describe('cache', () => {
  it('serves a second fetch from the cache, and replays with the site gone', async () => {
    const cachePath = join(workDir, 'cache.sqlite');
    const own = await startFixtureSite();
    try {
      const { fetcher: normal } = makeFetcher({ 'cache-mode': 'normal', 'cache-path': cachePath });
      const url = `${own.url}/articles/4.html`;
      const first = await normal.fetch(url);
      const second = await normal.fetch(url);
      expect(first.fromCache).toBe(false);
      expect(second.fromCache).toBe(true);
      expect(second.markdown).toBe(first.markdown);
      expect(own.requests.filter((request) => request.path === '/articles/4.html')).toHaveLength(1);
      await expect(normal.fetch(`${own.url}/status/500`)).rejects.toThrow(/HTTP 500/);
      await expect(normal.fetch(`${own.url}/status/500`)).rejects.toThrow(/HTTP 500/);
      expect(own.requests.filter((request) => request.path === '/status/500')).toHaveLength(2);
    } finally {
      await own.close();
    }
    const { fetcher: replay } = makeFetcher({ 'cache-mode': 'replay', 'cache-path': cachePath });
    const replayed: FetchedPage = await replay.fetch(`${own.url}/articles/4.html`);
    expect(replayed.fromCache).toBe(true);
    expect(replayed.markdown).toContain(ARTICLES[3]!.code);
    const miss = await fathomFailure(replay.fetch(`${own.url}/articles/5.html`));
    expect(miss.code).toBe('not_found');
    expect(miss.message).toContain('Not in the recording');
  });
});

interface JinaRequest {
  path: string;
  headers: IncomingHttpHeaders;
}

async function startFakeJina(answer: (path: string) => { status: number; body: string; type?: string }) {
  const requests: JinaRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '/', headers: req.headers });
    const { status, body, type } = answer(req.url ?? '/');
    res.writeHead(status, { 'content-type': type ?? 'text/plain; charset=utf-8' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${port}`, requests };
}

describe('Jina Reader', () => {
  it('asks Jina for markdown and reads its preamble', async () => {
    const target = `${site.url}/articles/7.html`;
    const jina = await startFakeJina(() => ({
      status: 200,
      body: `Title: Seven, as Jina saw it\n\nURL Source: ${target}\n\nPublished Time: 2024-05-01T10:00:00Z\n\nMarkdown Content:\n# Seven\n\nThe body, as Jina rendered it.\n`,
    }));
    const { fetcher: viaJina } = makeFetcher({ 'jina-api-key': 'jina-test-key', 'jina-base-url': jina.url, robots: 'false' });
    const before = requestsFor('/articles/7.html');
    const page = await viaJina.fetch(target);
    expect(jina.requests).toHaveLength(1);
    expect(jina.requests[0]!.path).toBe(`/${target}`);
    expect(jina.requests[0]!.headers.authorization).toBe('Bearer jina-test-key');
    expect(jina.requests[0]!.headers['x-return-format']).toBe('markdown');
    expect(page).toMatchObject({
      url: target,
      finalUrl: target,
      title: 'Seven, as Jina saw it',
      published: '2024-05-01T10:00:00Z',
      type: 'markdown',
      via: 'jina',
      fromCache: false,
      markdown: '# Seven\n\nThe body, as Jina rendered it.',
    });
    expect(requestsFor('/articles/7.html')).toBe(before);
  });

  it('falls back to a direct fetch when Jina fails', async () => {
    const jina = await startFakeJina(() => ({ status: 500, body: 'internal error' }));
    const { fetcher: viaJina } = makeFetcher({ 'jina-api-key': 'jina-test-key', 'jina-base-url': jina.url });
    const page = await viaJina.fetch(`${site.url}/articles/8.html`);
    expect(jina.requests).toHaveLength(1);
    expect(page.via).toBe('direct');
    expect(page.markdown).toContain(ARTICLES[7]!.code);
  });

  it('falls back when Jina reports an error from the target', async () => {
    const jina = await startFakeJina(() => ({
      status: 200,
      body: 'Title: \n\nURL Source: x\n\nWarning: Target URL returned error 503: Service Unavailable\n\nMarkdown Content:\nService Unavailable\n',
    }));
    const { fetcher: viaJina } = makeFetcher({ 'jina-api-key': 'jina-test-key', 'jina-base-url': jina.url, robots: 'false' });
    const page = await viaJina.fetch(`${site.url}/articles/10.html`);
    expect(page.via).toBe('direct');
    expect(page.markdown).toContain(ARTICLES[9]!.code);
  });

  it('still refuses private targets, without asking Jina', async () => {
    const jina = await startFakeJina(() => ({ status: 200, body: 'secret' }));
    // No allowed hosts: localhost resolves to 127.0.0.1, which the other tests allow.
    const { fetcher: viaJina } = makeFetcher({ 'jina-api-key': 'jina-test-key', 'jina-base-url': jina.url, 'egress-allow': '' });
    for (const url of ['http://10.0.0.1/admin', 'http://localhost:8080/', 'http://169.254.169.254/latest/meta-data/']) {
      expect((await fathomFailure(viaJina.fetch(url))).code).toBe('blocked_address');
    }
    expect(jina.requests).toHaveLength(0);
  });

  it('parses the JSON answer and reports target errors', () => {
    const json = JSON.stringify({ code: 200, status: 20000, data: { title: 'T', url: 'https://example.com/', content: 'Body', publishedTime: '2024-01-01' } });
    expect(parseJinaReader(json, 'application/json')).toEqual({ title: 'T', url: 'https://example.com/', published: '2024-01-01', markdown: 'Body' });
    expect(parseJinaReader('Just markdown, no preamble.')).toEqual({ markdown: 'Just markdown, no preamble.' });
    const failed = parseJinaReader('Title: \n\nURL Source: https://example.com/x\n\nWarning: Target URL returned error 404: Not Found\n\nMarkdown Content:\nNot found\n');
    expect(failed).toMatchObject({ status: 404, url: 'https://example.com/x' });
  });
});
