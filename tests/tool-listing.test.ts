import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@fathom/core';
import type { ServerDefinition } from '@fathom/core';
import { connectInMemory } from '@fathom/core/testing';
import { definition as browser } from '@fathom/browser';
import { definition as files } from '@fathom/files';
import { definition as pythonSandbox } from '@fathom/python-sandbox';
import { definition as search } from '@fathom/search';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIROTHINKER_TOOLS, SERVER_TOOLS } from './helpers.js';

/**
 * Every tool's four hints, pinned: [readOnlyHint, destructiveHint, idempotentHint, openWorldHint].
 * A change here is a change in what a host asks its user to confirm: make it on purpose.
 */
type Hints = readonly [readOnly: boolean, destructive: boolean, idempotent: boolean, openWorld: boolean];

const READS_WEB: Hints = [true, false, true, true];
const READS_LOCAL: Hints = [true, false, true, false];
const BROWSES: Hints = [false, false, false, true];
const SUBMITS: Hints = [false, true, false, true];

const HINTS: Record<string, Hints> = {
  // search, default
  web_search: READS_WEB,
  web_fetch: READS_WEB,
  extract: READS_WEB,
  // search, mirothinker
  google_search: READS_WEB,
  scrape_and_extract_info: READS_WEB,
  // browser (both profiles)
  browser_navigate: BROWSES,
  browser_back: BROWSES,
  browser_forward: BROWSES,
  browser_reload: BROWSES,
  browser_open: [false, false, false, false],
  browser_snapshot: READS_LOCAL,
  browser_click: SUBMITS,
  browser_type: SUBMITS,
  browser_select: SUBMITS,
  browser_press: SUBMITS,
  browser_hover: BROWSES,
  browser_scroll: BROWSES,
  browser_wait_for: READS_LOCAL,
  browser_find: READS_LOCAL,
  browser_screenshot: READS_LOCAL,
  browser_tabs: SUBMITS,
  browser_downloads: READS_LOCAL,
  browser_evaluate: SUBMITS,
  // files (both profiles): a source may be a URL
  read_document: READS_WEB,
  document_info: READS_WEB,
  search_document: READS_WEB,
  extract_tables: READS_WEB,
  list_files: READS_LOCAL,
  convert_to_markdown: READS_WEB,
  // python-sandbox, default
  python_create_session: [false, false, false, false],
  python_run: [false, true, false, false],
  shell_run: [false, true, false, false],
  sandbox_write_file: [false, true, true, false],
  sandbox_read_file: READS_LOCAL,
  sandbox_list_files: READS_LOCAL,
  sandbox_upload: [false, true, true, false],
  sandbox_download_url: [false, true, true, true],
  sandbox_export: [false, true, true, false],
  python_close_session: [false, true, true, false],
  // python-sandbox, mirothinker
  create_sandbox: [false, false, false, false],
  run_command: [false, true, false, false],
  run_python_code: [false, true, false, false],
  upload_file_from_local_to_sandbox: [false, true, true, false],
  download_file_from_internet_to_sandbox: [false, true, true, true],
  download_file_from_sandbox_to_local: [false, true, true, false],
};

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'fathom-listing-'));
  for (const dir of ['roots', 'output', 'state']) mkdirSync(join(base, dir));
});
afterAll(async () => {
  await Promise.all([search, browser, files, pythonSandbox].map((server) => server.shutdown?.()));
  rmSync(base, { recursive: true, force: true });
});

type Listed = { name: string; title?: string; annotations?: Record<string, unknown> };

async function listed(server: ServerDefinition, flags: Record<string, string>, env: Record<string, string> = {}): Promise<Listed[]> {
  const config = loadConfig(server.configSchema, {
    server: server.name,
    flags: {
      'cache-mode': 'off',
      roots: join(base, 'roots'),
      'output-dir': join(base, 'output'),
      ...(server.name === 'python-sandbox' ? { 'state-dir': join(base, 'state'), 'warm-pool': '0' } : {}),
      ...flags,
    },
    env,
    cwd: base,
  });
  const connection = await connectInMemory(await server.createServer(config, createLogger(`fathom.${server.name}`, { level: 'error' })));
  try {
    return (await connection.client.listTools()).tools as Listed[];
  } finally {
    await connection.close();
  }
}

const CASES: { server: ServerDefinition; label: string; flags: Record<string, string>; tools: readonly string[] }[] = [
  { server: search, label: 'default', flags: {}, tools: SERVER_TOOLS.search },
  { server: search, label: 'mirothinker', flags: { profile: 'mirothinker' }, tools: MIROTHINKER_TOOLS.search },
  { server: browser, label: 'default', flags: {}, tools: SERVER_TOOLS.browser },
  { server: browser, label: 'default, evaluate on', flags: { 'enable-evaluate': 'true' }, tools: [...SERVER_TOOLS.browser, 'browser_evaluate'] },
  { server: browser, label: 'mirothinker', flags: { profile: 'mirothinker' }, tools: MIROTHINKER_TOOLS.browser },
  { server: files, label: 'default', flags: {}, tools: SERVER_TOOLS.files },
  { server: files, label: 'mirothinker', flags: { profile: 'mirothinker' }, tools: MIROTHINKER_TOOLS.files },
  { server: pythonSandbox, label: 'default', flags: {}, tools: SERVER_TOOLS['python-sandbox'] },
  { server: pythonSandbox, label: 'mirothinker', flags: { profile: 'mirothinker' }, tools: MIROTHINKER_TOOLS['python-sandbox'] },
  {
    server: pythonSandbox,
    label: 'mirothinker, download to local on',
    flags: { profile: 'mirothinker', 'enable-download-to-local': 'true' },
    tools: [...MIROTHINKER_TOOLS['python-sandbox'], 'download_file_from_sandbox_to_local'],
  },
];

describe('tools/list of every server and profile', () => {
  it.each(CASES)('$server.name ($label): the pinned tools, in the pinned order, each with its pinned hints', async ({ server, flags, tools }) => {
    const listing = await listed(server, flags);
    expect(listing.map((tool) => tool.name)).toEqual(tools);
    for (const tool of listing) {
      const hints = HINTS[tool.name];
      expect(hints, `${tool.name} has no pinned hints`).toBeDefined();
      const [readOnlyHint, destructiveHint, idempotentHint, openWorldHint] = hints!;
      expect({ name: tool.name, ...tool.annotations }).toEqual({ name: tool.name, title: tool.title, readOnlyHint, destructiveHint, idempotentHint, openWorldHint });
    }
  });

  // The order comes from the tool modules, never from the order of settings or of a map's keys.
  it('lists the same order whatever the order of the settings', async () => {
    const forward = await listed(search, { 'search-providers': 'serper,brave,wikipedia', profile: 'mirothinker' });
    const backward = await listed(search, { profile: 'mirothinker', 'search-providers': 'wikipedia,brave,serper' });
    expect(backward.map((tool) => tool.name)).toEqual(forward.map((tool) => tool.name));
    const browserForward = await listed(browser, { 'enable-evaluate': 'true', 'output-dir': join(base, 'output') });
    const browserBackward = await listed(browser, { 'output-dir': join(base, 'output'), 'enable-evaluate': 'true' });
    expect(browserBackward.map((tool) => tool.name)).toEqual(browserForward.map((tool) => tool.name));
  });

  it('pins hints only for tools that exist', () => {
    const all = new Set(CASES.flatMap((entry) => entry.tools));
    expect(Object.keys(HINTS).filter((name) => !all.has(name))).toEqual([]);
  });
});
