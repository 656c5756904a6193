import { tmpdir } from 'node:os';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { configSchema } from '../../src/config.js';
import { createServer } from '../../src/server.js';

export interface SearchClient {
  fetch(url: string): Promise<{ text: string; isError: boolean }>;
  close(): Promise<void>;
}

/** A real MCP client of a search server built from these flags (no cache, no robots.txt unless set). */
export async function searchClient(flags: Record<string, string>): Promise<SearchClient> {
  const config = loadConfig(configSchema, {
    server: 'search',
    flags: { 'cache-mode': 'off', robots: 'false', 'log-level': 'silent', ...flags },
    env: {},
    cwd: tmpdir(),
  });
  const connection: InMemoryConnection = await connectInMemory(await createServer(config));
  return {
    async fetch(url) {
      const result = await connection.client.callTool({ name: 'web_fetch', arguments: { url } });
      return { text: textOf(result), isError: result.isError === true };
    },
    close: () => connection.close(),
  };
}
