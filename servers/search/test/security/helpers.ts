import { tmpdir } from 'node:os';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { configSchema } from '../../src/config.js';
import { createServer } from '../../src/server.js';

export interface ToolAnswer {
  text: string;
  isError: boolean;
  structured?: Record<string, unknown>;
}

export interface SearchClient {
  call(name: string, args: Record<string, unknown>): Promise<ToolAnswer>;
  fetch(url: string): Promise<ToolAnswer>;
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
  const call = async (name: string, args: Record<string, unknown>): Promise<ToolAnswer> => {
    const result = await connection.client.callTool({ name, arguments: args });
    return {
      text: textOf(result),
      isError: result.isError === true,
      ...(result.structuredContent ? { structured: result.structuredContent as Record<string, unknown> } : {}),
    };
  };
  return {
    call,
    fetch: (url) => call('web_fetch', { url }),
    close: () => connection.close(),
  };
}
