import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFixtureSite } from '../../../tests/fixtures/site.js';
import type { FixtureSite } from '../../../tests/fixtures/site.js';
import { startHttpServer } from '../../../tests/helpers.js';
import { skipWithoutRedis, startRedis } from '../../../tests/services.js';
import type { RedisService } from '../../../tests/services.js';

// Search server processes sharing one Redis cache (--cache-url), each with its own SQLite folder
// so nothing else is shared: a page one fetched is served to the others without a request.

type Server = Awaited<ReturnType<typeof startHttpServer>>;

let redis: RedisService;
let site: FixtureSite;
let dir: string;
const servers: Server[] = [];
const clients: Client[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-shared-cache-'));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const server of servers.splice(0)) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await site?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function searchServer(name: string, flags: string[] = []): Promise<Client> {
  const server = await startHttpServer('search', [
    '--cache-url',
    redis.url,
    '--cache-path',
    join(dir, name, 'cache.sqlite'),
    '--egress-allow',
    '127.0.0.1',
    '--log-level',
    'warn',
    ...flags,
  ]);
  servers.push(server);
  const client = new Client({ name: `test-${name}`, version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  clients.push(client);
  return client;
}

async function fetchPage(client: Client, url: string) {
  const result = await client.callTool({ name: 'web_fetch', arguments: { url, max_chars: 2000 } });
  const text = (result.content as Array<{ type: string; text?: string }>).map((part) => part.text ?? '').join('\n');
  return { isError: result.isError === true, text, fromCache: (result.structuredContent as { from_cache?: boolean } | undefined)?.from_cache };
}

const requestsFor = (path: string) => site.requests.filter((request) => request.path === path).length;

describe('search servers sharing a Redis cache', () => {
  if (skipWithoutRedis()) return;

  beforeEach(async () => {
    redis = await startRedis();
    site = await startFixtureSite();
  });

  it('fetch a page once for all of them, robots.txt included', async () => {
    const [first, second] = await Promise.all([searchServer('a'), searchServer('b')]);
    const article = site.articles[0]!;
    const url = `${site.url}${site.pages[0]}`;
    const one = await fetchPage(first, url);
    expect(one.isError, one.text).toBe(false);
    expect(one.text).toContain(article.title);
    expect(one.fromCache).toBe(false);
    const two = await fetchPage(second, url);
    expect(two.isError, two.text).toBe(false);
    expect(two.text).toContain(article.title);
    expect(two.fromCache).toBe(true);
    expect(requestsFor(site.pages[0]!)).toBe(1);
    expect(requestsFor('/robots.txt')).toBeLessThanOrEqual(1);
  });

  it('record through Redis in one server, replay in another with the site gone', async () => {
    const recorder = await searchServer('recorder', ['--cache-mode', 'record']);
    const url = `${site.url}${site.pages[1]}`;
    const recorded = await fetchPage(recorder, url);
    expect(recorded.isError, recorded.text).toBe(false);
    await site.close();
    const replayer = await searchServer('replayer', ['--cache-mode', 'replay']);
    const replayed = await fetchPage(replayer, url);
    expect(replayed.isError, replayed.text).toBe(false);
    expect(replayed.text).toContain(site.articles[1]!.title);
    const missing = await fetchPage(replayer, `${site.url}${site.pages[2]}`);
    expect(missing.isError).toBe(true);
    expect(missing.text).toContain('Not in the recording');
  });

  it('answer live while Redis is down, warn once, and share again once it is back', async () => {
    const first = await searchServer('a');
    const second = await searchServer('b');
    const server = servers[0]!;
    await redis.kill();
    for (const index of [2, 3, 4]) {
      const started = Date.now();
      const page = await fetchPage(first, `${site.url}${site.pages[index]}`);
      expect(page.isError, page.text).toBe(false);
      expect(page.text).toContain(site.articles[index]!.title);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    const warnings = server.stderr().split('\n').filter((line) => line.includes('cache unavailable'));
    expect(warnings).toHaveLength(1);
    expect(server.stderr()).not.toMatch(/Unhandled error event/);

    await redis.start();
    // ioredis reconnects within two seconds; until then pages are fetched live. A page the first
    // server fetches is found by the second (which never fetched it) once both write and read Redis.
    let shared = false;
    for (let index = 5; index < 45 && !shared; index++) {
      const url = `${site.url}${site.pages[index]}`;
      expect((await fetchPage(first, url)).isError).toBe(false);
      shared = (await fetchPage(second, url)).fromCache === true;
      if (!shared) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(shared).toBe(true);
    expect(server.stderr()).toContain('cache available again');
  });
});
