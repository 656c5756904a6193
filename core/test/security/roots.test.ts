import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseConfigSchema } from '../../src/config.js';
import { resolveWithinRoots } from '../../src/paths.js';
import { defineToolServer } from '../../src/serve.js';
import { connectInMemory, textOf } from '../../src/testing.js';
import { defineTool } from '../../src/tool.js';
import { quiet, testConfig } from './fixtures.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'fathom-roots-')));
const configured = join(base, 'configured');
const outside = join(base, 'outside');
mkdirSync(join(configured, 'sub'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(configured, 'a.txt'), 'configured a');
writeFileSync(join(configured, 'sub', 'b.txt'), 'configured sub b');
writeFileSync(join(outside, 'c.txt'), 'outside c');
symlinkSync(outside, join(configured, 'escape'));
symlinkSync(join(configured, 'sub'), join(outside, 'into-sub'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const tools = () => [
  defineTool({
    name: 'roots',
    title: 'Roots',
    description: 'The folders this call may read.',
    input: z.object({}),
    annotations: READ_ONLY,
    handle: async (_args, context) => JSON.stringify(await context.roots()),
  }),
  defineTool({
    name: 'read',
    title: 'Read',
    description: 'Reads a text file under the roots.',
    input: z.object({ path: z.string().describe('The file') }),
    annotations: READ_ONLY,
    handle: async ({ path }, context) => readFile(await resolveWithinRoots(path, await context.roots()), 'utf8'),
  }),
];
const definition = defineToolServer({
  name: 'roots-test',
  title: 'Roots test',
  description: 'Test fixture.',
  packageJson: new URL('../../package.json', import.meta.url),
  defaultPort: 0,
  configSchema: baseConfigSchema,
  tools,
});

/** A real client connection; `offered` are the client's MCP roots, or none when it does not support roots. */
async function connect(offered?: string[]) {
  const instance = await definition.createServer(testConfig({ roots: configured }), quiet);
  const connection = await connectInMemory(instance, offered ? { capabilities: { roots: { listChanged: true } } } : {});
  if (offered) connection.client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: offered.map((uri) => ({ uri, name: uri })) }));
  const call = async (name: string, args: Record<string, unknown> = {}) => {
    const result = await connection.client.callTool({ name, arguments: args });
    return { text: textOf(result), isError: result.isError === true };
  };
  return { call, close: () => connection.close() };
}

describe('client roots only narrow the configured roots', () => {
  it('a client offering file:/// gets the configured root, not the whole disk', async () => {
    const client = await connect(['file:///']);
    expect(JSON.parse((await client.call('roots')).text)).toEqual([configured]);
    const etc = await client.call('read', { path: '/etc/hostname' });
    expect(etc.isError).toBe(true);
    expect(etc.text).toMatch(/outside the folders this server may read/);
    expect((await client.call('read', { path: join(outside, 'c.txt') })).isError).toBe(true);
    expect(await client.call('read', { path: join(configured, 'a.txt') })).toEqual({ text: 'configured a', isError: false });
    await client.close();
  });

  it('a client offering file:///etc, outside every configured root, gets nothing', async () => {
    const client = await connect(['file:///etc']);
    expect(JSON.parse((await client.call('roots')).text)).toEqual([]);
    const etc = await client.call('read', { path: '/etc/hostname' });
    expect(etc.isError).toBe(true);
    expect(etc.text).toMatch(/No folders are open to this server[\s\S]*can only narrow them/);
    expect((await client.call('read', { path: join(configured, 'a.txt') })).isError).toBe(true);
    await client.close();
  });

  it('a client root inside a configured root narrows to it, after following links on both sides', async () => {
    const client = await connect([pathToFileURL(join(outside, 'into-sub')).href, pathToFileURL(join(configured, 'escape')).href]);
    expect(JSON.parse((await client.call('roots')).text)).toEqual([join(configured, 'sub')]);
    expect(await client.call('read', { path: join(configured, 'sub', 'b.txt') })).toEqual({ text: 'configured sub b', isError: false });
    expect((await client.call('read', { path: join(configured, 'a.txt') })).isError).toBe(true);
    expect((await client.call('read', { path: join(outside, 'c.txt') })).isError).toBe(true);
    await client.close();
  });

  it('ignores a malformed root instead of falling back to the configured ones', async () => {
    const client = await connect(['file://some-host/share']);
    expect(JSON.parse((await client.call('roots')).text)).toEqual([]);
    await client.close();
  });

  it('a witness client that offers no roots reads under the configured root', async () => {
    const attacker = await connect(['file:///']);
    const witness = await connect();
    expect((await attacker.call('read', { path: '/etc/hostname' })).isError).toBe(true);
    expect(JSON.parse((await witness.call('roots')).text)).toEqual([configured]);
    expect(await witness.call('read', { path: 'a.txt' })).toEqual({ text: 'configured a', isError: false });
    await Promise.all([attacker.close(), witness.close()]);
  });
});
