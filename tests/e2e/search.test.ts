import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProviderFakes } from '../fixtures/providers.js';
import type { ProviderFakes } from '../fixtures/providers.js';
import { startFixtureSite } from '../fixtures/site.js';
import type { FixtureSite } from '../fixtures/site.js';
import { startHttpServer } from '../helpers.js';

let fakes: ProviderFakes;
let site: FixtureSite;

beforeAll(async () => {
  [fakes, site] = await Promise.all([startProviderFakes(), startFixtureSite()]);
});

afterAll(async () => {
  await Promise.all([fakes?.close(), site?.close()]);
});

async function client(url: string): Promise<Client> {
  const connected = new Client({ name: 'e2e', version: '0' });
  await connected.connect(new StreamableHTTPClientTransport(new URL(url)));
  return connected;
}

describe('search server process, mirothinker profile', () => {
  it('serves both trained server names from one process, and the whole set at /mcp', async () => {
    const flags = Object.entries(fakes.flags).flatMap(([key, value]) => [`--${key}`, value]);
    const server = await startHttpServer('search', ['--profile', 'mirothinker', '--egress-allow', '127.0.0.1', '--cache-mode', 'off', ...flags]);
    try {
      const base = server.url;
      const search = await client(`${base}/search_and_scrape_webpage`);
      const scrape = await client(`${base}/jina_scrape_llm_summary`);
      expect(search.getServerVersion()?.name).toBe('search_and_scrape_webpage');
      expect((await search.listTools()).tools.map((tool) => tool.name)).toEqual(['google_search']);
      expect((await scrape.listTools()).tools.map((tool) => tool.name)).toEqual(['scrape_and_extract_info']);
      const found = await search.callTool({ name: 'google_search', arguments: { q: 'harbour tides' } });
      expect(JSON.parse((found.content as { text: string }[])[0]!.text)).toHaveProperty('organic');
      const scraped = await scrape.callTool({ name: 'scrape_and_extract_info', arguments: { url: `${site.url}${site.articles[0]!.path}`, info_to_extract: 'the catalogue code' } });
      expect(JSON.parse((scraped.content as { text: string }[])[0]!.text)).toMatchObject({ success: true });
      const everything = await client(base);
      expect((await everything.listTools()).tools.map((tool) => tool.name)).toEqual(['google_search', 'scrape_and_extract_info']);
      const missing = await fetch(`${base}/nowhere`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
      expect(missing.status).toBe(404);
      expect(await missing.text()).toContain('/mcp/search_and_scrape_webpage');
      await Promise.all([search.close(), scrape.close(), everything.close()]);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});
