import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Cache } from '../../src/cache.js';
import type { CacheMode } from '../../src/cache.js';
import { HttpClient } from '../../src/net/index.js';
import type { NetOptions } from '../../src/net/index.js';
import { DocumentFetcher } from '../../src/fetcher.js';
import { createToolServer } from '../../src/server.js';
import { loadSource } from '../../src/source.js';
import { connectInMemory, textOf } from '../../src/testing.js';
import type { InMemoryConnection } from '../../src/testing.js';
import { defineTool } from '../../src/tool.js';
import { skipWithoutRedis, startRedis } from '../../../tests/services.js';
import type { RedisService } from '../../../tests/services.js';
import { quiet } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'fathom-cache-reach-'));
const cachePath = join(dir, 'cache.sqlite');
/** Where the servers of the suite being run keep their shared cache: the SQLite file, or a Redis of its own. */
let redis: RedisService | undefined;
const requests: string[] = [];
const site = createServer((req, res) => {
  requests.push(req.url ?? '/');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`loopback page ${req.url}`);
});
let origin = '';
const opened: Array<{ connection: InMemoryConnection; http: HttpClient; cache: Cache }> = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  origin = `127.0.0.1:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const { connection, http, cache } of opened) {
    await connection.close();
    await http.close();
    await cache.close();
  }
  await new Promise<void>((resolve) => site.close(() => resolve()));
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A server with one tool that reads a URL the way every Fathom server does: loadSource, guarded client, shared cache. */
async function server(net: NetOptions, mode: CacheMode = 'normal') {
  const http = new HttpClient({ logger: quiet, retries: 0, ...net });
  const cache = Cache.open(redis ? { url: redis.url, mode } : { path: cachePath, mode });
  const fetcher = new DocumentFetcher({ http, cache, logger: quiet, maxBytes: 1 << 20 });
  const readUrl = defineTool({
    name: 'read_url',
    title: 'Read a URL',
    description: 'Reads a URL as text.',
    input: z.object({ url: z.string().describe('The URL') }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    handle: async ({ url }) => Buffer.from((await loadSource(url, { roots: [], maxBytes: 1 << 20, fetcher })).bytes).toString('utf8'),
  });
  const connection = await connectInMemory(createToolServer({ name: 'reader', version: '0', tools: [readUrl], logger: quiet }));
  opened.push({ connection, http, cache });
  return async (url: string) => {
    const result = await connection.client.callTool({ name: 'read_url', arguments: { url } });
    return { text: textOf(result), isError: result.isError === true };
  };
}

describe.each(['sqlite', 'redis'] as const)('a shared cache (%s) does not carry pages past the address guard', (kind) => {
  if (kind === 'redis' && skipWithoutRedis()) return;
  let permissive: Awaited<ReturnType<typeof server>>;
  let strict: Awaited<ReturnType<typeof server>>;
  let uncached: Awaited<ReturnType<typeof server>>;
  beforeAll(async () => {
    if (kind === 'redis') redis = await startRedis();
    permissive = await server({ allowHosts: ['127.0.0.1', 'localhost'] });
    strict = await server({});
    uncached = await server({}, 'off');
  });

  it.each([
    ['an IP literal', () => `http://${origin}/${kind}/by-address`],
    ['a host name', () => `http://${origin.replace('127.0.0.1', 'localhost')}/${kind}/by-name`],
  ])('refuses a loopback page a permissive server cached, fetched by %s', async (_how, urlOf) => {
    const url = urlOf();
    const path = new URL(url).pathname;
    expect(await permissive(url)).toEqual({ text: `loopback page ${path}`, isError: false });
    expect(requests.filter((seen) => seen === path)).toHaveLength(1);

    const refused = await strict(url);
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/^Refused to fetch http:\/\/(127\.0\.0\.1|localhost):\d+\/(sqlite|redis)\/by-\w+: .*a loopback address/);
    expect(refused.text).toBe((await uncached(url)).text);
    expect(requests.filter((seen) => seen === path)).toHaveLength(1);

    // The witness: the permissive server still reads it, from the cache.
    expect(await permissive(url)).toEqual({ text: `loopback page ${path}`, isError: false });
    expect(requests.filter((seen) => seen === path)).toHaveLength(1);
  });

  it('refuses it in replay mode too, where nothing is fetched', async () => {
    const url = `http://${origin}/${kind}/replayed`;
    expect((await permissive(url)).isError).toBe(false);
    const replaying = await server({}, 'replay');
    const refused = await replaying(url);
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/^Refused to fetch http:\/\/127\.0\.0\.1:\d+\/(sqlite|redis)\/replayed: 127\.0\.0\.1 is a loopback address/);
    const allowedReplay = await server({ allowHosts: ['127.0.0.1'] }, 'replay');
    expect(await allowedReplay(url)).toEqual({ text: `loopback page /${kind}/replayed`, isError: false });
  });
});
