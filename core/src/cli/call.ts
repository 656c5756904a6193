import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { mainScript } from './servers.js';
import type { ServerName } from './servers.js';

export interface StdioConnection {
  client: Client;
  stderr: () => string;
  close(): Promise<void>;
}

/** Spawns a server over stdio and connects a real MCP client to it. */
export async function connectStdio(name: ServerName, serverArgs: string[] = []): Promise<StdioConnection> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [mainScript(name), ...serverArgs],
    stderr: 'pipe',
    env: { ...process.env, FATHOM_LOG_LEVEL: process.env.FATHOM_LOG_LEVEL ?? 'warn' } as Record<string, string>,
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'fathom-cli', version: '0.1.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    const log = stderr.trim();
    throw new Error(`${(error as Error).message}${log ? `\n${log}` : ''}`, { cause: error });
  }
  return { client, stderr: () => stderr, close: () => client.close() };
}

export function renderResult(result: CallToolResult, json: boolean): string {
  if (json) {
    return JSON.stringify(result.structuredContent ?? { content: result.content, isError: result.isError ?? false }, null, 2);
  }
  return result.content
    .map((block) => {
      switch (block.type) {
        case 'text':
          return block.text;
        case 'image':
        case 'audio':
          return `[${block.type} ${block.mimeType}, ${Math.round((block.data.length * 3) / 4)} bytes]`;
        case 'resource':
          return 'text' in block.resource ? block.resource.text : `[resource ${block.resource.uri}]`;
        case 'resource_link':
          return `[${block.name}](${block.uri})`;
        default:
          return JSON.stringify(block);
      }
    })
    .join('\n');
}
