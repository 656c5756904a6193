import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { FathomServer } from './server.js';

export interface InMemoryConnection {
  client: Client;
  /** Closes the client, then the server instance (and what it holds). */
  close(): Promise<void>;
}

/** Connects a real MCP client to `instance` over a linked in-memory transport pair. */
export async function connectInMemory(
  instance: FathomServer,
  options: { name?: string; capabilities?: ClientCapabilities } = {},
): Promise<InMemoryConnection> {
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  const client = new Client(
    { name: options.name ?? 'fathom-test-client', version: '0.0.0' },
    { capabilities: options.capabilities ?? {} },
  );
  await instance.server.connect(serverTransport);
  await client.connect(clientTransport);
  return {
    client,
    async close() {
      await client.close();
      await instance.close();
    },
  };
}

/** The text blocks of a tool result, joined by newlines. */
export function textOf(result: object): string {
  const { content } = result as { content?: unknown };
  const blocks = Array.isArray(content) ? (content as { type?: unknown; text?: unknown }[]) : [];
  return blocks
    .filter((block) => block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text as string)
    .join('\n');
}
