import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cache } from '../src/cache.js';
import { DocumentFetcher, fileNameOf, parseWebUrl } from '../src/fetcher.js';
import { createLogger } from '../src/log.js';
import { HttpClient } from '../src/net/index.js';
import { loadSource } from '../src/source.js';
import { fathomFailure } from '../src/testing.js';

const logger = createLogger('test', { level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'fathom-fetcher-'));
const seen: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
let release: (() => void) | undefined;
const site = createServer((req, res) => {
  seen.push({ url: req.url ?? '/', headers: req.headers });
  if (req.url === '/missing') {
    res.writeHead(404).end('gone');
  } else if (req.url === '/stalls') {
    release = () => res.end('late');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a');
  } else {
    res.writeHead(200, { 'content-type': 'application/pdf' }).end(`bytes of ${req.url}`);
  }
});
let base = '';
const http = new HttpClient({ allowHosts: ['127.0.0.1'], retries: 0, logger });
const cache = Cache.open({ path: join(dir, 'cache.sqlite'), mode: 'normal' });

beforeAll(async () => {
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
  release?.();
  await http.close();
  await cache.close();
  await new Promise<void>((resolve) => site.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});


describe('DocumentFetcher', () => {
  it('writes one cache entry per URL that every server reads: the files server reuses what search fetched', async () => {
    const search = new DocumentFetcher({ http, cache, logger, maxBytes: 1 << 20, timeoutMs: 10_000, ttlMs: 3_600_000 });
    const files = new DocumentFetcher({ http, cache, logger, maxBytes: 1 << 20 });
    const first = await search.fetch(`${base}/report.pdf#page=2`);
    expect(first).toMatchObject({ url: `${base}/report.pdf`, finalUrl: `${base}/report.pdf`, status: 200, contentType: 'application/pdf', name: 'report.pdf', fromCache: false });
    expect(first.peers).toEqual([{ url: expect.stringContaining('127.0.0.1'), address: '127.0.0.1' }]);
    const loaded = await loadSource(`${base}/report.pdf`, { roots: [], maxBytes: 1 << 20, fetcher: files });
    expect(Buffer.from(loaded.bytes).toString()).toBe('bytes of /report.pdf');
    expect(loaded).toMatchObject({ name: 'report.pdf', mimeType: 'application/pdf', url: `${base}/report.pdf` });
    expect(seen.filter((request) => request.url === '/report.pdf')).toHaveLength(1);
    expect(seen[0]!.headers.accept).toContain('application/pdf');
  });

  it('keys a request with custom headers apart, and never sends Host or framing headers', async () => {
    const fetcher = new DocumentFetcher({ http, cache, logger, maxBytes: 1 << 20 });
    await fetcher.fetch(`${base}/headers`);
    const custom = await fetcher.fetch(`${base}/headers`, { headers: { 'X-Test': 'yes', Host: 'evil.example', 'Content-Length': '9' } });
    expect(custom.fromCache).toBe(false);
    const last = seen.findLast((request) => request.url === '/headers')!;
    expect(last.headers['x-test']).toBe('yes');
    expect(last.headers.host).toBe(new URL(base).host);
    expect((await fetcher.fetch(`${base}/headers`, { headers: { 'x-test': 'yes' } })).fromCache).toBe(true);
  });

  it('names a file whose path has malformed percent escapes as written, instead of failing', async () => {
    const fetcher = new DocumentFetcher({ http, cache, logger, maxBytes: 1 << 20 });
    const loaded = await loadSource(`${base}/a%E0%A4%A.pdf`, { roots: [], maxBytes: 1 << 20, fetcher });
    expect(loaded.name).toBe('a%E0%A4%A.pdf');
    expect(fileNameOf('https://x.example/dir/')).toBe('index');
    expect(fileNameOf('https://x.example/caf%C3%A9.pdf')).toBe('café.pdf');
  });

  it('answers an HTTP error status with its meaning and what to do, and stores nothing for it', async () => {
    const fetcher = new DocumentFetcher({ http, cache, logger, maxBytes: 1 << 20 });
    const error = await fathomFailure(fetcher.fetch(`${base}/missing`));
    expect(error.code).toBe('not_found');
    expect(error.message).toBe(`${base}/missing answered HTTP 404 Not Found`);
    expect(error.hint).toContain('Check the address');
    await fathomFailure(fetcher.fetch(`${base}/missing`));
    expect(seen.filter((request) => request.url === '/missing')).toHaveLength(2);
  });

  it('stops at its time limit with a timeout error, and says how to raise a size limit', async () => {
    const slow = new DocumentFetcher({ http, cache, logger, maxBytes: 1 << 20, timeoutMs: 200 });
    const timeout = await fathomFailure(slow.fetch(`${base}/stalls`));
    expect(timeout.code).toBe('timeout');
    expect(timeout.message).toBe(`Timed out after 0.2 s fetching ${base}/stalls`);
    const small = new DocumentFetcher({ http, cache, logger, maxBytes: 4, tooLargeHint: 'Raise --max-bytes.' });
    const large = await fathomFailure(small.fetch(`${base}/large.pdf`));
    expect(large.code).toBe('too_large');
    expect(large.hint).toBe('Raise --max-bytes.');
  });

  it('takes only absolute http(s) URLs', () => {
    expect(() => parseWebUrl('not a url')).toThrow(/Not a valid URL/);
    expect(() => parseWebUrl('ftp://x.example/a', 'Use read_document.')).toThrow(expect.objectContaining({ code: 'invalid_argument', hint: 'Use read_document.' }));
    expect(parseWebUrl(' https://x.example/a#b ').href).toBe('https://x.example/a');
  });
});
