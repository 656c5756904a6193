import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startHttpServer } from '../../../../tests/helpers.js';
import { configSchema } from '../../src/config.js';
import { createServer } from '../../src/server.js';

/** Long enough for any answer on a loaded machine; a call still open then is hung. */
export const HANG_MS = 10_000;

export interface CallResult {
  text: string;
  isError: boolean;
  structured: Record<string, unknown> | undefined;
}

type Caller = Pick<Client, 'callTool'>;

/** One tool call that fails the test if no answer comes within HANG_MS. */
export async function call(client: Caller, name: string, args: Record<string, unknown>): Promise<CallResult> {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: HANG_MS });
  return { text: textOf(result), isError: result.isError === true, structured: result.structuredContent as Record<string, unknown> | undefined };
}

/** A files server in-process, for attacks a worker thread absorbs. */
export async function connectFiles(root: string, flags: Record<string, string> = {}): Promise<InMemoryConnection> {
  const config = loadConfig(configSchema, {
    server: 'files',
    flags: { roots: root, 'cache-mode': 'off', 'log-level': 'silent', ...flags },
    env: {},
    cwd: root,
  });
  return connectInMemory(await createServer(config));
}

export interface SpawnedServer {
  /** A new MCP session on the server: another client of the same process. */
  session(): Promise<Client>;
  stop(): Promise<void>;
}

/**
 * A server in its own process over Streamable HTTP, for attacks on its main thread: a blocked
 * server cannot block the test, whose timers still tell a hang from an answer.
 */
export async function spawnServer(name: string, args: string[]): Promise<SpawnedServer> {
  const server = await startHttpServer(name, args);
  const clients: Client[] = [];
  return {
    async session() {
      const client = new Client({ name: 'security-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.allSettled(clients.map((client) => client.close()));
      server.child.kill('SIGTERM');
      // A server whose main thread is stuck never runs its SIGTERM handler.
      const timer = setTimeout(() => server.child.kill('SIGKILL'), 3000);
      await server.exited;
      clearTimeout(timer);
    },
  };
}
