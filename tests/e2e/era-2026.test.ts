import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findChromium } from '@fathom/browser';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { CallToolResult, Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFixtureSite } from '../fixtures/site.js';
import type { FixtureSite } from '../fixtures/site.js';
import { IN_CI, SERVERS, SERVER_TOOLS, TEST_CACHE, serverMain, startHttpServer } from '../helpers.js';

type ServerName = (typeof SERVERS)[number];

const ERA = '2026-07-28';
const ACCEPT = 'application/json, text/event-stream';
const FOLDER = mkdtempSync(join(tmpdir(), 'fathom-era-'));
writeFileSync(join(FOLDER, 'notes.txt'), 'tide tables\n');

let site: FixtureSite;
beforeAll(async () => {
  site = await startFixtureSite();
});
afterAll(async () => {
  await site?.close();
});

/** Each server's flags for these tests: its outbound requests may reach the local fixture site. */
const FLAGS: Record<ServerName, string[]> = {
  search: ['--egress-allow', '127.0.0.1', '--cache-mode', 'off'],
  browser: ['--egress-allow', '127.0.0.1'],
  files: ['--roots', FOLDER],
  'python-sandbox': [],
};

const hasChromium = findChromium() !== undefined;
if (!hasChromium) {
  if (IN_CI) throw new Error('Chromium is missing on this CI machine: apt-get install chromium');
  console.log('Skipping the 2026-era browser calls: Chromium not found (apt-get install chromium)');
}

/** A 2026-era client: pinned to 2026-07-28, so connecting fails against a server that speaks only 2025. */
async function connect(transport: Transport): Promise<Client> {
  const client = new Client({ name: 'e2e-2026', version: '1' }, { versionNegotiation: { mode: { pin: ERA } } });
  await client.connect(transport);
  expect(client.getProtocolEra()).toBe('modern');
  return client;
}

function text(result: unknown): string {
  return ((result as CallToolResult).content as { type: string; text?: string }[])
    .filter((block) => block.type === 'text')
    .map((block) => block.text)
    .join('\n');
}

/**
 * One call of each server's, checked; python-sandbox makes a session in one call and uses it in the
 * next, and the browser opens a page in one and reads it in the next (`sessionless`: over HTTP, where
 * each 2026-era request stands alone).
 */
async function callOne(name: ServerName, client: Client, sessionless: boolean): Promise<void> {
  if (name === 'search') {
    const fetched = await client.callTool({ name: 'web_fetch', arguments: { url: `${site.url}${site.articles[0]!.path}` } });
    expect(fetched.isError).toBeFalsy();
    expect(text(fetched).length).toBeGreaterThan(100);
  } else if (name === 'browser') {
    if (!hasChromium) return;
    const opened = await client.callTool({ name: 'browser_navigate', arguments: { url: `${site.url}${site.articles[0]!.path}` } });
    expect(opened.isError, text(opened)).toBeFalsy();
    expect(text(opened)).toContain(`Page: ${site.url}`);
    // The page stays in its context for the next call that names it, session or none.
    const context_id = (opened.structuredContent as { context_id: string }).context_id;
    const snapshot = await client.callTool({ name: 'browser_snapshot', arguments: { context_id } });
    expect(snapshot.isError, text(snapshot)).toBeFalsy();
    expect(text(snapshot)).toContain(`Page: ${site.url}${site.articles[0]!.path}`);
    const unnamed = await client.callTool({ name: 'browser_snapshot', arguments: {} });
    if (sessionless) {
      expect(unnamed.isError).toBe(true);
      expect(text(unnamed)).toContain('pass context_id');
    } else {
      expect(text(unnamed)).toContain(`Page: ${site.url}${site.articles[0]!.path}`);
    }
  } else if (name === 'files') {
    const listed = await client.callTool({ name: 'list_files', arguments: {} });
    expect(listed.isError, text(listed)).toBeFalsy();
    expect(text(listed)).toContain('notes.txt');
  } else {
    const created = await client.callTool({ name: 'python_create_session', arguments: {} });
    expect(created.isError, text(created)).toBeFalsy();
    const id = (created.structuredContent as { session_id: string }).session_id;
    const ran = await client.callTool({ name: 'python_run', arguments: { session_id: id, code: 'sum(range(5))' } });
    expect(ran.isError, text(ran)).toBeFalsy();
    expect(text(ran)).toContain('10');
    await client.callTool({ name: 'python_close_session', arguments: { session_id: id } });
  }
}

describe.each(SERVERS)('%s to a 2026-07-28 client', (name) => {
  it('over stdio: lists its tools and calls one', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [serverMain(name), ...FLAGS[name]],
      env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' },
      stderr: 'pipe',
    });
    const client = await connect(transport);
    try {
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(SERVER_TOOLS[name]);
      await callOne(name, client, false);
    } finally {
      await client.close();
    }
  });

  it('over HTTP: lists its tools and calls one, with no session', async () => {
    const server = await startHttpServer(name, FLAGS[name]);
    try {
      const client = await connect(new StreamableHTTPClientTransport(new URL(server.url)));
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(SERVER_TOOLS[name]);
      await callOne(name, client, true);
      const health = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'ok', sessions: 0 });
      await client.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

/** A 2026-era tools/list: the per-request `_meta` envelope and the standard headers, no session. */
const modernList = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/list',
  params: {
    _meta: {
      'io.modelcontextprotocol/protocolVersion': ERA,
      'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  },
};
const modernHeaders = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': ERA, 'mcp-method': 'tools/list' };

/** node:http, since fetch may not set the Host header. */
function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: 'POST', headers }, (response) => {
      let data = '';
      response.on('data', (chunk: Buffer) => (data += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: data }));
    });
    request.once('error', reject);
    request.end(JSON.stringify(body));
  });
}

describe('HTTP guards for 2026-era requests', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  const token = 'era-2026-token';
  beforeAll(async () => {
    server = await startHttpServer('files', [], { FATHOM_TOKEN: token });
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });
  const authorized = { ...modernHeaders, authorization: `Bearer ${token}` };

  it('serves a 2026-era request that passes them', async () => {
    const answer = await post(server.url, authorized, modernList);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('list_files');
  });

  it('refuses a foreign Host header', async () => {
    const answer = await post(server.url, { ...authorized, host: 'evil.example:80' }, modernList);
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain('list_files');
  });

  it('refuses a foreign Origin', async () => {
    const answer = await post(server.url, { ...authorized, origin: 'https://evil.example' }, modernList);
    expect(answer.status).toBe(403);
    expect(answer.body).not.toContain('list_files');
  });

  it('refuses a missing or wrong bearer token', async () => {
    expect((await post(server.url, modernHeaders, modernList)).status).toBe(401);
    const wrong = await post(server.url, { ...modernHeaders, authorization: 'Bearer nope' }, modernList);
    expect(wrong.status).toBe(401);
    expect(wrong.body).not.toContain('list_files');
  });
});
