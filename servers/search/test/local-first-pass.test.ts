import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createLogger, loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config.js';
import type { Config } from '../src/config.js';
import { createServer, definition } from '../src/server.js';

// Enough documents that the first pass over the folder takes a moment (about 2 s on an idle machine).
const FILLER = 3000;
const WORD = 'brackenwort';
const INDEXING = /indexing: (?:[\d,]+ of 3,001 files indexed so far|the local folders are still being listed \([\d,]+ files? found so far\)); results may be incomplete, ask again shortly/;

const dir = mkdtempSync(join(tmpdir(), 'fathom-search-first-pass-'));
const folder = join(dir, 'notes');
// Read last: the walk reads a folder's files in name order.
const target = join(folder, 'zz-survey.md');
let connection: InMemoryConnection | undefined;

beforeAll(() => {
  mkdirSync(folder);
  for (let i = 0; i < FILLER; i++) writeFileSync(join(folder, `note-${String(i).padStart(4, '0')}.md`), `# Note ${i}\n\nTide tables and harbour notes, entry ${i}.\n`);
  writeFileSync(target, `# Spring survey\n\nThe ${WORD} count on the north slope was 412.\n`);
});

afterEach(async () => {
  await connection?.close();
  connection = undefined;
  await definition.shutdown();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A search server on the folder, connected to a real MCP client right away, so its first pass has just begun. */
async function start(flags: Record<string, string>): Promise<{ config: Config; call: (name: string, args: Record<string, unknown>) => Promise<{ text: string; isError: boolean; structured?: Record<string, unknown> }> }> {
  const config = loadConfig(configSchema, {
    server: 'search',
    flags: { 'cache-mode': 'off', 'log-level': 'silent', 'search-providers': 'local', 'local-folders': folder, ...flags },
    env: {},
    cwd: tmpdir(),
  });
  connection = await connectInMemory(await createServer(config, createLogger('fathom.search', { level: 'silent' })));
  const { client } = connection;
  return {
    config,
    call: async (name, args) => {
      const result = await client.callTool({ name, arguments: args });
      return { text: textOf(result), isError: result.isError === true, ...(result.structuredContent ? { structured: result.structuredContent as Record<string, unknown> } : {}) };
    },
  };
}

/** The first pass of the server built from `config`, as an event to wait for. */
function firstPass(config: Config): Promise<unknown> {
  return definition.runtimeFor(config, createLogger('test', { level: 'silent' })).folderPass!.finished;
}

describe('local search while the first pass over --local-folders runs', () => {
  it('web_search at once finds the document, or says that indexing is under way; never a bare "0 results"', async () => {
    const { config, call } = await start({});
    const first = await call('web_search', { query: WORD });
    expect(first.text).not.toMatch(/^0 results/);
    if (first.isError) {
      expect(first.text).toMatch(/^No search provider answered: local: indexing: /);
      expect(first.text).toMatch(INDEXING);
    } else {
      expect((first.structured?.results as Array<{ url: string }>).map((result) => result.url)).toEqual([pathToFileURL(target).href]);
      expect(first.structured?.indexing).toBeUndefined();
    }

    // Words every document holds: what is indexed so far, with a note while the pass is still running.
    const common = await call('web_search', { query: 'harbour notes', num: 5 });
    if (common.isError) {
      expect(common.text).toMatch(INDEXING);
    } else {
      expect(common.text).toMatch(/^5 results from local/);
      if (common.structured?.indexing !== undefined) {
        expect(common.structured.indexing).toMatch(INDEXING);
        expect(common.text).toContain(`[note] ${common.structured.indexing as string}`);
      }
    }

    await firstPass(config);
    const after = await call('web_search', { query: WORD });
    expect(after.isError, after.text).toBe(false);
    expect(after.text).toMatch(/^1 result from local for "brackenwort":\n\n1\. Spring survey\n/);
    expect(after.text).not.toContain('indexing');
    expect(after.structured?.indexing).toBeUndefined();
  });

  it('google_search (mirothinker profile) at once finds the document, or answers an error that says indexing is under way', async () => {
    const { config, call } = await start({ profile: 'mirothinker' });
    const first = JSON.parse((await call('google_search', { q: WORD })).text) as { organic?: Array<{ link: string }>; success?: boolean; error?: string };
    if (first.organic) {
      expect(first.organic.map((item) => item.link)).toEqual([pathToFileURL(target).href]);
    } else {
      expect(first.success).toBe(false);
      expect(first.error).toMatch(INDEXING);
    }

    await firstPass(config);
    const after = JSON.parse((await call('google_search', { q: WORD })).text) as { organic: Array<{ link: string }> };
    expect(after.organic.map((item) => item.link)).toEqual([pathToFileURL(target).href]);
  });
});
