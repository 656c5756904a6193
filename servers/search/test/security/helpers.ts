import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { configSchema } from '../../src/config.js';
import { createServer, definition } from '../../src/server.js';

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

/**
 * Search servers that share one cache file in a fresh folder: `shared` are its flags, `client`
 * makes a server (closed by `closeAll`, which also removes the folder).
 */
export function sharedCache(prefix: string, extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const clients: SearchClient[] = [];
  return {
    shared: { 'cache-mode': 'normal', 'cache-path': join(dir, 'cache.sqlite'), ...extra },
    async client(flags: Record<string, string>): Promise<SearchClient> {
      const created = await searchClient(flags);
      clients.push(created);
      return created;
    },
    async closeAll(): Promise<void> {
      await Promise.all(clients.splice(0).map((created) => created.close()));
      await definition.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
