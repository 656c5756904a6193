import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@fathom/core';
import { textOf } from '@fathom/core/testing';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBrowserSite } from '../../../tests/fixtures/browser-site.js';
import type { BrowserSite } from '../../../tests/fixtures/browser-site.js';
import { TEST_CACHE, descendants, processAlive, serverMain, startHttpServer, waitFor } from '../../../tests/helpers.js';
import { configSchema } from '../src/config.js';
import { describeChromium } from './chromium.js';
import { createServer, definition } from '../src/server.js';


type Caller = (name: string, args?: Record<string, unknown>) => Promise<{ text: string; isError: boolean }>;
const callerOf =
  (client: Client): Caller =>
  async (name, args = {}) => {
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
    return { text: textOf(result), isError: result.isError === true };
  };

let site: BrowserSite;
let output: string;

beforeAll(async () => {
  site = await startBrowserSite();
  output = mkdtempSync(join(tmpdir(), 'fathom-browser-sessions-'));
});

afterAll(async () => {
  await site?.close();
  if (output) rmSync(output, { recursive: true, force: true });
});

describeChromium('a closed MCP session frees its browser context at once', () => {
  it('in process: the next session gets the one context the cap allows as soon as the first closes', async () => {
    const config = loadConfig(configSchema, {
      server: 'browser',
      flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'cache-mode': 'off', 'max-contexts': '1' },
      env: {},
      cwd: output,
    });
    const open = async (sessionId: string) => {
      const instance = await createServer(config, createLogger('fathom.browser', { level: 'error' }));
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      serverSide.sessionId = sessionId;
      const client = new Client({ name: sessionId, version: '0' });
      await instance.server.connect(serverSide);
      await client.connect(clientSide);
      return { call: callerOf(client), close: () => client.close().then(() => instance.close()) };
    };
    try {
      const first = await open('first');
      const second = await open('second');
      expect((await first.call('browser_navigate', { url: `${site.url}/static.html` })).isError).toBe(false);
      const refused = await second.call('browser_navigate', { url: `${site.url}/static.html` });
      expect(refused.text).toContain('Too many browser sessions are open (1)');
      await first.close();
      const opened = await second.call('browser_navigate', { url: `${site.url}/static.html` });
      expect(opened.isError, opened.text).toBe(false);
      await second.close();
    } finally {
      await definition.shutdown();
    }
  }, 120_000);

  it('over HTTP: a session ended with DELETE frees its context for the next client', async () => {
    const server = await startHttpServer('browser', ['--max-contexts', '1', '--egress-allow', '127.0.0.1', '--output-dir', output, '--cache-mode', 'off']);
    try {
      const aliceTransport = new StreamableHTTPClientTransport(new URL(server.url));
      const alice = new Client({ name: 'alice', version: '0' });
      await alice.connect(aliceTransport);
      const bob = new Client({ name: 'bob', version: '0' });
      await bob.connect(new StreamableHTTPClientTransport(new URL(server.url)));
      expect((await callerOf(alice)('browser_navigate', { url: `${site.url}/static.html` })).isError).toBe(false);
      expect((await callerOf(bob)('browser_navigate', { url: `${site.url}/static.html` })).text).toContain('Too many browser sessions are open (1)');
      await aliceTransport.terminateSession();
      await alice.close();
      const opened = await callerOf(bob)('browser_navigate', { url: `${site.url}/static.html` });
      expect(opened.isError, opened.text).toBe(false);
      await bob.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 120_000);

  it('over stdio: the browser stops when the client closes', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [serverMain('browser'), '--transport', 'stdio', '--egress-allow', '127.0.0.1', '--output-dir', output, '--cache-mode', 'off'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'stdio', version: '0' });
    await client.connect(transport);
    const pid = transport.pid!;
    expect((await callerOf(client)('browser_navigate', { url: `${site.url}/static.html` })).isError).toBe(false);
    const browserProcesses = descendants(pid);
    expect(browserProcesses.length).toBeGreaterThan(0);
    await client.close();
    await waitFor(() => !processAlive(pid) && browserProcesses.every((child) => !processAlive(child)), 30_000, 'the server and its browser to exit');
  }, 120_000);
});
