import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { createMcpHandler } from '@modelcontextprotocol/server';
import { FathomError } from './errors.js';
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

/**
 * tools/list exactly as it crosses the wire. The SDK client re-parses tool schemas (its zod
 * parse moves `type` first), so checks of key order must read the raw JSON-RPC answer.
 */
export async function rawToolList(instance: FathomServer): Promise<Record<string, unknown>[]> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const answers = new Map<number, (message: Record<string, unknown>) => void>();
  clientSide.onmessage = (message) => {
    const { id } = message as { id?: number };
    if (typeof id === 'number') answers.get(id)?.(message as Record<string, unknown>);
  };
  await instance.server.connect(serverSide);
  await clientSide.start();
  const request = (id: number, method: string, params: Record<string, unknown>) =>
    new Promise<Record<string, unknown>>((resolve) => {
      answers.set(id, resolve);
      void clientSide.send({ jsonrpc: '2.0', id, method, params });
    });
  await request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } });
  await clientSide.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const listed = await request(2, 'tools/list', {});
  await clientSide.close();
  return (listed.result as { tools: Record<string, unknown>[] }).tools;
}

/**
 * tools/list as a 2026-07-28-era request gets it on the wire: one request, with the per-request
 * `_meta` envelope, to an instance `create` makes for it (the SDK's createMcpHandler, in process).
 */
export async function rawToolList2026(create: () => FathomServer | Promise<FathomServer>): Promise<Record<string, unknown>[]> {
  const handler = createMcpHandler(async () => (await create()).server, { legacy: 'reject' });
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
  const response = await handler.fetch(
    new Request('http://fathom.test/mcp', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } }),
    }),
  );
  const body = await response.text();
  await handler.close();
  const json = response.headers.get('content-type')?.includes('text/event-stream') ? /^data: (.*)$/m.exec(body)?.[1] ?? '' : body;
  return (JSON.parse(json) as { result: { tools: Record<string, unknown>[] } }).result.tools;
}

/** The FathomError `promise` fails with: a promise that resolves, or fails with anything else, fails the caller. */
export async function fathomFailure(promise: Promise<unknown>): Promise<FathomError> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  if (outcome.resolved) throw new Error('expected a failure, but the promise resolved');
  if (outcome.error instanceof FathomError) return outcome.error;
  throw outcome.error;
}
