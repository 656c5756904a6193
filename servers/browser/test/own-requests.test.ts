import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBrowserSite } from '../../../tests/fixtures/browser-site.js';
import type { BrowserSite } from '../../../tests/fixtures/browser-site.js';
import { SELF_SIGNED } from '../../../tests/fixtures/self-signed.js';
import { descendants } from '../../../tests/helpers.js';
import { configSchema } from '../src/config.js';
import { describeChromium } from './chromium.js';
import { createServer as createBrowserServer, definition } from '../src/server.js';


/** The host of a proxy target: a URL, or host:port as a CONNECT names it. */
const hostOf = (target: string) => (/^[a-z]+:\/\//.test(target) ? new URL(target).hostname : target.replace(/:\d+$/, ''));

describeChromium('a browser session sends nothing the pages did not ask for (Chromium)', () => {
  let site: BrowserSite;
  let untrusted: Server;
  let output: string;

  beforeAll(async () => {
    site = await startBrowserSite();
    untrusted = createServer(SELF_SIGNED, (_request, response) => void response.end('<title>Untrusted</title>'));
    await new Promise<void>((resolve) => untrusted.listen(0, '127.0.0.1', resolve));
    output = mkdtempSync(join(tmpdir(), 'fathom-browser-own-'));
  });

  afterAll(async () => {
    await definition.shutdown();
    await site?.close();
    untrusted?.closeAllConnections();
    await new Promise<void>((resolve) => (untrusted ? untrusted.close(() => resolve()) : resolve()));
    if (output) rmSync(output, { recursive: true, force: true });
  });

  it('reaches only the pages’ own host through the guard proxy; what Chromium asks for by itself never leaves', async () => {
    const log: { msg: string; target?: string }[] = [];
    const logger = createLogger('fathom.browser', { level: 'debug', write: (line) => void log.push(JSON.parse(line) as { msg: string; target?: string }) });
    const config = loadConfig(configSchema, { server: 'browser', flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'cache-mode': 'off' }, env: {}, cwd: output });
    const connection = await connectInMemory(await createBrowserServer(config, logger));
    const call = async (name: string, args: Record<string, unknown> = {}) => {
      const result = await connection.client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
      return { text: textOf(result), isError: result.isError === true };
    };
    try {
      // What a research session does: read pages, fill and send a form (Chromium's autofill would
      // report it), find text, meet a certificate error (which sets off a captive portal check).
      expect((await call('browser_navigate', { url: `${site.url}/static.html` })).isError).toBe(false);
      const form = await call('browser_navigate', { url: `${site.url}/form.html` });
      const field = /\[input type=text name=q[^\n]*\[ref=(m\d+)\]/.exec(form.text)?.[1];
      expect((await call('browser_type', { ref: field, text: 'harbour charts', submit: true })).text).toContain('Results for harbour charts');
      expect((await call('browser_find', { query: 'harbour' })).isError).toBe(false);
      expect((await call('browser_navigate', { url: `https://127.0.0.1:${(untrusted.address() as AddressInfo).port}/` })).text).toMatch(/^Certificate error/);
      await call('browser_navigate', { url: `${site.url}/js.html` });
      expect((await call('browser_wait_for', { text: 'Built by script' })).isError).toBe(false);

      const contacted = log.filter((entry) => entry.msg === 'browser connection' || entry.msg === 'browser connection refused').map((entry) => hostOf(entry.target ?? ''));
      expect(contacted).toContain('127.0.0.1');
      expect([...new Set(contacted)]).toEqual(['127.0.0.1']);

      // Chromium reads only the last --disable-features: ours must keep every feature Playwright's turns off.
      const [browserProcess] = descendants(process.pid)
        .map((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          } catch {
            return [];
          }
        })
        .filter((args) => /chrom/.test(args[0] ?? '') && args.some((arg) => arg.startsWith('--remote-debugging-pipe')));
      const lists = (browserProcess ?? []).filter((arg) => arg.startsWith('--disable-features=')).map((arg) => arg.slice('--disable-features='.length).split(','));
      expect(lists.length).toBeGreaterThan(0);
      const last = lists.at(-1)!;
      for (const list of lists) expect(last).toEqual(expect.arrayContaining(list));
      // The distribution's wrapper script, which exports Google API keys, is not what runs.
      expect(browserProcess?.[0]).not.toBe('/usr/bin/chromium');
    } finally {
      await connection.close();
    }
  }, 180_000);
});
