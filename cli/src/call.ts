import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
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

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/svg+xml': 'svg',
  'image/x-icon': 'ico',
  'audio/mpeg': 'mp3',
  'audio/x-wav': 'wav',
};

function extension(mimeType: string): string {
  return EXTENSIONS[mimeType] ?? (/^[a-z]+\/([a-z0-9.+-]+)$/i.exec(mimeType)?.[1]?.replace(/^x-/, '').replace(/\+.*$/, '') || 'bin');
}

/**
 * Writes each image and audio block of a result into `dir` (made if missing) as
 * `<tool>-<n>.<ext>`, never over a file already there. Returns the paths by block index.
 */
export async function saveBinaryContent(result: CallToolResult, dir: string, tool: string): Promise<Map<number, string>> {
  const saved = new Map<number, string>();
  const blocks = result.content.flatMap((block, index) => (block.type === 'image' || block.type === 'audio' ? [{ block, index }] : []));
  if (blocks.length === 0) return saved;
  await mkdir(dir, { recursive: true });
  let n = 0;
  for (const { block, index } of blocks) {
    const data = Buffer.from(block.data, 'base64');
    for (;;) {
      const path = resolve(dir, `${tool.replace(/[^\w.-]/g, '_')}-${++n}.${extension(block.mimeType)}`);
      try {
        await writeFile(path, data, { flag: 'wx' });
        saved.set(index, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }
  return saved;
}

export function renderResult(result: CallToolResult, json: boolean, saved: ReadonlyMap<number, string> = new Map()): string {
  if (json) {
    return JSON.stringify(result.structuredContent ?? { content: result.content, isError: result.isError ?? false }, null, 2);
  }
  return result.content
    .map((block, index) => {
      switch (block.type) {
        case 'text':
          return block.text;
        case 'image':
        case 'audio': {
          const path = saved.get(index);
          return `[${block.type} ${block.mimeType}, ${Buffer.byteLength(block.data, 'base64')} bytes${path ? `, saved to ${path}` : ''}]`;
        }
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
