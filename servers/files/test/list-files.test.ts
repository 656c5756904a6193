import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import { createServer } from '../src/server.js';

interface Entry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  modified: string;
}
interface Listing {
  folder: string;
  entries: Entry[];
  truncated: boolean;
}

// base/
//   tree/                     the one root
//     a.csv  b.txt  notes.txt  .hidden  .config/x.csv
//     data/x.csv  data/.secret.csv  data/deep/y.csv
//     zlink -> ../outside
//   outside/secret.csv
let base: string;
let tree: string;
let outside: string;
const MTIME = new Date('2024-05-06T07:08:09.000Z');

async function connectFiles(profile: 'default' | 'mirothinker' = 'default'): Promise<InMemoryConnection> {
  const config = loadConfig(configSchema, { server: 'files', flags: { roots: tree, profile, 'cache-mode': 'off' }, env: {}, cwd: tree });
  return connectInMemory(await createServer(config));
}

let connection: InMemoryConnection;
let client: Client;

beforeAll(async () => {
  base = realpathSync(mkdtempSync(join(tmpdir(), 'fathom-files-')));
  tree = join(base, 'tree');
  outside = join(base, 'outside');
  mkdirSync(join(tree, 'data', 'deep'), { recursive: true });
  mkdirSync(join(tree, '.config'));
  mkdirSync(outside);
  writeFileSync(join(tree, 'a.csv'), 'x,y\n1,2\n');
  writeFileSync(join(tree, 'b.txt'), 'hello');
  writeFileSync(join(tree, 'notes.txt'), '');
  writeFileSync(join(tree, '.hidden'), 'h');
  writeFileSync(join(tree, '.config', 'x.csv'), 'c');
  writeFileSync(join(tree, 'data', 'x.csv'), 'dx');
  writeFileSync(join(tree, 'data', '.secret.csv'), 's');
  writeFileSync(join(tree, 'data', 'deep', 'y.csv'), 'deep');
  writeFileSync(join(outside, 'secret.csv'), 'secret');
  symlinkSync('../outside', join(tree, 'zlink'));
  utimesSync(join(tree, 'b.txt'), MTIME, MTIME);
  connection = await connectFiles();
  client = connection.client;
});

afterAll(async () => {
  await connection?.close();
  rmSync(base, { recursive: true, force: true });
});

async function list(args: Record<string, unknown> = {}) {
  const result = await client.callTool({ name: 'list_files', arguments: args });
  return { result, text: textOf(result), listing: result.structuredContent as Listing };
}

describe('files server tool list', () => {
  it('advertises list_files with its schema and hints', async () => {
    const { tools } = await client.listTools();
    expect(client.getServerVersion()?.name).toBe('fathom-files');
    const tool = tools.find((candidate) => candidate.name === 'list_files')!;
    expect(tool.annotations).toEqual({
      title: 'List files',
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    });
    expect(Object.keys(tool.inputSchema.properties ?? {})).toEqual(['path', 'glob', 'max_entries']);
    expect(tool.outputSchema?.required).toEqual(['folder', 'entries', 'truncated']);
  });

  it('offers list_files in the mirothinker profile too', async () => {
    const miro = await connectFiles('mirothinker');
    try {
      const { tools } = await miro.client.listTools();
      expect(tools.map((tool) => tool.name)).toContain('list_files');
    } finally {
      await miro.close();
    }
  });
});

describe('list_files', () => {
  it('lists one level, sorted, hiding hidden entries, by default', async () => {
    const { result, text, listing } = await list();
    expect(result.isError).toBeFalsy();
    expect(listing.folder).toBe(tree);
    expect(listing.truncated).toBe(false);
    expect(listing.entries.map((e) => [e.path, e.type])).toEqual([
      ['a.csv', 'file'],
      ['b.txt', 'file'],
      ['data', 'directory'],
      ['notes.txt', 'file'],
      ['zlink', 'symlink'],
    ]);
    expect(text.split('\n')).toEqual([
      `${tree}: 5 entries matching "*"`,
      'a.csv  (8 bytes)',
      'b.txt  (5 bytes)',
      'data/',
      'notes.txt  (0 bytes)',
      'zlink',
    ]);
  });

  it('returns structured content that matches the output schema: sizes, types, ISO dates', async () => {
    const { listing } = await list();
    const byPath = new Map(listing.entries.map((entry) => [entry.path, entry]));
    expect(byPath.get('b.txt')).toEqual({ path: 'b.txt', type: 'file', size: 5, modified: MTIME.toISOString() });
    expect(byPath.get('a.csv')?.size).toBe(8);
    expect(byPath.get('data')?.size).toBe(0);
    expect(byPath.get('zlink')?.size).toBe(0);
    for (const entry of listing.entries) {
      expect(Object.keys(entry).sort()).toEqual(['modified', 'path', 'size', 'type']);
      expect(new Date(entry.modified).toISOString()).toBe(entry.modified);
    }
  });

  it('recurses with **, skipping hidden entries and never following links out of the root', async () => {
    const { listing, text } = await list({ glob: '**/*.csv' });
    expect(listing.entries.map((e) => e.path)).toEqual(['a.csv', 'data/deep/y.csv', 'data/x.csv']);
    expect(text).toContain('3 entries matching "**/*.csv"');
    expect(text).not.toContain('secret');
  });

  it('lists a subfolder, relative to it', async () => {
    const { listing } = await list({ path: 'data' });
    expect(listing.folder).toBe(join(tree, 'data'));
    expect(listing.entries.map((e) => e.path)).toEqual(['deep', 'x.csv']);
  });

  it('shows hidden entries only when the glob names them', async () => {
    const { listing } = await list({ glob: '.*' });
    expect(listing.entries.map((e) => [e.path, e.type])).toEqual([
      ['.config', 'directory'],
      ['.hidden', 'file'],
    ]);
  });

  it('cuts the list at max_entries, sets truncated and says so', async () => {
    const { listing, text } = await list({ max_entries: 2 });
    expect(listing.entries.map((e) => e.path)).toEqual(['a.csv', 'b.txt']);
    expect(listing.truncated).toBe(true);
    expect(text).toContain('2 entries matching "*" (first 2; narrow the glob or raise max_entries)');

    const exact = await list({ max_entries: 5 });
    expect(exact.listing.entries).toHaveLength(5);
    expect(exact.listing.truncated).toBe(false);
    expect(exact.text).not.toContain('first 5');
  });

  it('refuses a path outside the roots', async () => {
    for (const path of ['..', outside, 'zlink', '/etc']) {
      const { result, text } = await list({ path });
      expect(result.isError).toBe(true);
      expect(text).toContain('outside');
      expect(result.structuredContent).toBeUndefined();
    }
  });

  it('refuses a file or a missing folder as not a folder', async () => {
    for (const path of ['b.txt', 'missing']) {
      const { result, text } = await list({ path });
      expect(result.isError).toBe(true);
      expect(text).toContain(`${path} is not a folder`);
      expect(text).toContain('Call list_files with no path');
    }
  });

  it('refuses arguments that break the input schema', async () => {
    const { result, text } = await list({ max_entries: 0 });
    expect(result.isError).toBe(true);
    expect(text).toContain('max_entries');
  });

  it('answers a glob that is not a valid pattern with a recoverable error', async () => {
    for (const glob of ['{a', '[z-a]']) {
      const { result, text } = await list({ glob });
      expect(result.isError).toBe(true);
      expect(text).toContain(`Invalid glob "${glob}"`);
      expect(text).not.toContain('internal error');
    }
  });
});
