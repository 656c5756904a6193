import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig } from '@fathom/core';
import { chromium } from 'playwright-core';
import { parseFlags } from '@fathom/core';
import { configSchema, envAliases } from '../src/config.js';
import { BrowserManager } from '../src/manager.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_TIMEOUT_MS, describeChromium, eventually, startBrowser } from './security/harness.js';
import type { Browser } from './security/harness.js';
import { startHeaderGate, startRemoteChromium } from './remote-chromium.js';
import { startRecordingServer } from './security/hostile-site.js';
import type { GuardedEndpoint, RemoteChromium } from './remote-chromium.js';
import { FATHOM_BIN, spawnNode } from '../../../tests/helpers.js';

const refOf = (text: string, label: string) => new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\n]*?\\[ref=(m\\d+)\\]`).exec(text)?.[1];
const TOKEN_HEADER = 'X-Browser-Token';
const TOKEN = 'let-me-in-7d1f';

/** The DevTools endpoint's page targets: what the browser has open. */
async function targets(endpoint: string): Promise<{ url: string; type: string }[]> {
  const answer = await fetch(`${endpoint}/json/list`, { headers: { [TOKEN_HEADER]: TOKEN } });
  return (await answer.json()) as { url: string; type: string }[];
}

describeChromium('a remote browser (--cdp-endpoint)', () => {
  let remote: RemoteChromium;
  let gate: GuardedEndpoint;
  let browser: Browser;
  let cookies: Server;
  let cookieOrigin: string;

  beforeAll(async () => {
    remote = await startRemoteChromium();
    gate = await startHeaderGate(() => remote.httpEndpoint, TOKEN_HEADER, TOKEN);
    browser = await startBrowser({ 'cdp-endpoint': gate.url, 'cdp-header': `${TOKEN_HEADER}: ${TOKEN}` });
    cookies = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://x');
      const headers: Record<string, string> = { 'content-type': 'text/html' };
      if (url.pathname === '/worker') {
        // A dedicated worker fetches one URL and the page shows what came back.
        const target = JSON.stringify(url.searchParams.get('fetch') ?? '');
        const script = `fetch(${target}).then((r) => r.text()).then((t) => postMessage('worker got ' + t), (e) => postMessage('worker failed ' + e))`;
        return void response
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<title>Worker</title><p id="out">waiting</p><script>const w = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(script)}], { type: 'text/javascript' }))); w.onmessage = (m) => { document.getElementById('out').textContent = m.data; };</script>`);
      }
      if (url.pathname === '/plain') return void response.writeHead(200, { 'content-type': 'text/plain', 'access-control-allow-origin': '*' }).end('plain-text-7');
      const set = url.searchParams.get('set');
      if (set) headers['set-cookie'] = `who=${set}; Path=/`;
      response.writeHead(200, headers).end(`<title>Cookies</title><p>Cookies sent: ${request.headers.cookie ?? "none"}.</p>`);
    });
    await new Promise<void>((resolve) => cookies.listen(0, '127.0.0.1', resolve));
    cookieOrigin = `http://127.0.0.1:${(cookies.address() as AddressInfo).port}`;
  });

  it('is what `fathom doctor` checks instead of a local Chromium, with the headers the server sends', async () => {
    const doctor = async (header: string) => {
      const run = spawnNode([FATHOM_BIN, 'doctor', '--json'], { FATHOM_CDP_ENDPOINT: gate.url, FATHOM_CDP_HEADER: header });
      await run.exited;
      return JSON.parse(run.stdout()) as { name: string; ok: boolean; detail: string; fix?: string }[];
    };
    const checks = await doctor(`${TOKEN_HEADER}: ${TOKEN}`);
    expect(checks.find((check) => check.name === 'remote browser')).toMatchObject({ ok: true, detail: expect.stringMatching(/^Chromium \d+\.[\d.]+ at http:\/\/127\.0\.0\.1:\d+\//) });
    expect(checks.map((check) => check.name)).not.toContain('chromium');
    expect(checks.map((check) => check.name)).not.toContain('browser sandbox');
    const refused = (await doctor(`${TOKEN_HEADER}: wrong`)).find((check) => check.name === 'remote browser')!;
    expect(refused.ok).toBe(false);
    expect(refused.fix).toContain('--cdp-header');
    expect(JSON.stringify(refused)).not.toContain(TOKEN);
  }, TEST_TIMEOUT_MS);

  let closed = false;

  afterAll(async () => {
    if (!closed) await browser?.close();
    await gate?.close();
    await remote?.close();
    cookies?.close();
  });

  it('sends --cdp-header to the endpoint, which refuses a client without it', async () => {
    const refusedBefore = gate.refused;
    await expect(chromium.connectOverCDP(gate.url, { timeout: 10_000 })).rejects.toThrow(/401/);
    expect(gate.refused).toBeGreaterThan(refusedBefore);
    const session = await browser.session('header');
    const opened = await session.call('browser_navigate', { url: `${browser.site.url}/static.html` });
    expect(opened.isError, opened.text).toBe(false);
    // /json/version and the WebSocket both came through the gate, with the header.
    expect(gate.accepted).toBeGreaterThanOrEqual(2);
  }, TEST_TIMEOUT_MS);

  it('navigates, reads and clicks in the remote browser', async () => {
    const session = await browser.session('reader');
    const page = await session.call('browser_navigate', { url: `${browser.site.url}/static.html` });
    expect(page.isError, page.text).toBe(false);
    expect(page.text).toContain('Title: Static page');
    expect(page.text).toContain('The harbour master logged 312 ships in 1897.');
    const link = refOf(page.text, 'second page');
    expect(link).toBeDefined();
    const clicked = await session.call('browser_click', { ref: link });
    expect(clicked.text).toContain(`Page: ${browser.site.url}/second.html`);
    expect(clicked.text).toContain('Arrived from the static page.');
    // The page is in the remote browser itself.
    expect((await targets(remote.httpEndpoint)).map((target) => target.url)).toContain(`${browser.site.url}/second.html`);
  }, TEST_TIMEOUT_MS);

  it('gives each MCP session a context of its own: cookies are not shared', async () => {
    const alice = await browser.session('alice');
    const bob = await browser.session('bob');
    expect((await alice.call('browser_navigate', { url: `${cookieOrigin}/?set=alice` })).isError).toBe(false);
    expect((await alice.call('browser_navigate', { url: `${cookieOrigin}/` })).text).toContain('Cookies sent: who=alice.');
    expect((await bob.call('browser_navigate', { url: `${cookieOrigin}/` })).text).toContain('Cookies sent: none.');
    expect((await bob.call('browser_navigate', { url: `${cookieOrigin}/?set=bob` })).isError).toBe(false);
    expect((await alice.call('browser_navigate', { url: `${cookieOrigin}/` })).text).toContain('Cookies sent: who=alice.');
    expect((await bob.call('browser_navigate', { url: `${cookieOrigin}/` })).text).toContain('Cookies sent: who=bob.');
  }, TEST_TIMEOUT_MS);

  it("a page's worker goes through the guard proxy too: an allowed address answers, a private one does not", async () => {
    const privateSite = await startRecordingServer('127.0.0.2');
    try {
      const session = await browser.session('worker');
      await session.call('browser_navigate', { url: `${cookieOrigin}/worker?fetch=${encodeURIComponent(`${cookieOrigin}/plain`)}` });
      const allowed = await session.call('browser_wait_for', { text: 'worker got' });
      expect(allowed.isError, allowed.text).toBe(false);
      expect((await session.call('browser_snapshot')).text).toContain('worker got plain-text-7');
      await session.call('browser_navigate', { url: `${cookieOrigin}/worker?fetch=${encodeURIComponent(`${privateSite.origin}/secret`)}` });
      const refused = await session.call('browser_wait_for', { text: 'worker failed' });
      expect(refused.isError, refused.text).toBe(false);
      expect((await session.call('browser_snapshot')).text).toContain('worker failed TypeError');
      expect(privateSite.requests).toEqual([]);
    } finally {
      await privateSite.close();
    }
  }, TEST_TIMEOUT_MS);

  it('does not save downloads, and says why', async () => {
    const session = await browser.session('download');
    await session.call('browser_navigate', { url: `${browser.site.url}/download.html` });
    const page = await session.call('browser_snapshot');
    const link = refOf(page.text, 'Download the report');
    expect(link).toBeDefined();
    const clicked = await session.call('browser_click', { ref: link });
    let text = clicked.text;
    for (let i = 0; i < 20 && !text.includes('Did not save the download'); i++) text += (await session.call('browser_snapshot')).text;
    expect(text).toContain('Did not save the download of report.csv');
    expect(text).toContain('downloads are off with a remote browser');
    const direct = await session.call('browser_navigate', { url: `${browser.site.url}/files/report.csv` });
    expect(direct.isError).toBe(true);
    expect(direct.text).toContain('is a download, not a page; it was not saved: downloads are off with a remote browser');
    expect((await session.call('browser_downloads')).text).not.toContain('report.csv');
  }, TEST_TIMEOUT_MS);

  it('a killed remote browser: a clear error while it is down, and the next call after its restart works again', async () => {
    const session = await browser.session('survivor');
    expect((await session.call('browser_navigate', { url: `${browser.site.url}/static.html` })).isError).toBe(false);
    // A call in flight when the browser goes: it says so, not just that a target closed.
    const inFlight = session.call('browser_navigate', { url: `${browser.site.url}/slow?ms=20000` });
    await eventually(() => browser.site.requests.some((path) => path.startsWith('/slow')), 'the slow page to be asked for');
    await remote.kill();
    const cut = await inFlight;
    expect(cut.isError).toBe(true);
    expect(cut.text).toMatch(/^The remote browser at http:\/\/127\.0\.0\.1:\d+\/ disconnected/);
    expect(cut.text).toContain('the next call connects again');
    const down = await session.call('browser_navigate', { url: `${browser.site.url}/second.html` });
    expect(down.isError).toBe(true);
    // Whether the call meets the browser going away or comes after: either way it says what happened.
    expect(down.text).toMatch(/^(The remote browser at http:\/\/127\.0\.0\.1:\d+\/ disconnected|Could not connect to the remote browser at http:\/\/127\.0\.0\.1:\d+\/)/);
    expect(down.text).toContain('the next call connects again');
    expect(down.text).not.toContain(TOKEN);
    // Still down: each call tries again and says so.
    const again = await session.call('browser_navigate', { url: `${browser.site.url}/second.html` });
    expect(again.isError).toBe(true);
    expect(again.text).toContain('Could not connect to the remote browser');
    await remote.restart();
    const back = await session.call('browser_navigate', { url: `${browser.site.url}/second.html` });
    expect(back.isError, back.text).toBe(false);
    expect(back.text).toContain('Arrived from the static page.');
    expect(back.text).toContain('The remote browser disconnected and was connected to again');
  }, TEST_TIMEOUT_MS);

  it('on shutdown closes only its own contexts and leaves the remote browser running', async () => {
    const session = await browser.session('last');
    expect((await session.call('browser_navigate', { url: `${browser.site.url}/heading.html` })).isError).toBe(false);
    expect((await targets(remote.httpEndpoint)).map((target) => target.url)).toContain(`${browser.site.url}/heading.html`);
    closed = true;
    await browser.close();
    expect(remote.running()).toBe(true);
    const left = (await targets(remote.httpEndpoint)).filter((target) => target.type === 'page').map((target) => target.url);
    expect(left).not.toContain(`${browser.site.url}/heading.html`);
    // The browser's own tab, which the server never touched, is still open.
    expect(left).toContain('about:blank');
  }, TEST_TIMEOUT_MS);
});

describeChromium('a remote browser started without the WebRTC flag', () => {
  /** What the manager logs when it connects to a browser started with `webrtcPolicy`. */
  async function warnings(webrtcPolicy: boolean): Promise<string[]> {
    const remote = await startRemoteChromium([], { webrtcPolicy });
    const output = mkdtempSync(join(tmpdir(), 'fathom-remote-flags-'));
    const lines: string[] = [];
    const config = loadConfig(configSchema, { server: 'browser', flags: { 'cdp-endpoint': remote.httpEndpoint, 'output-dir': output }, env: {}, cwd: output });
    const manager = new BrowserManager({ config, logger: createLogger('test', { level: 'warn', write: (line) => lines.push(line) }) });
    try {
      await manager.session('one');
    } finally {
      await manager.close();
      await remote.close();
      rmSync(output, { recursive: true, force: true });
    }
    return lines.filter((line) => line.includes('"level":"warn"'));
  }

  it('is connected to with a warning that names the flag; one started with it gets none', async () => {
    const without = await warnings(false);
    expect(without).toHaveLength(1);
    expect(without[0]).toContain('started without --webrtc-ip-handling-policy=disable_non_proxied_udp');
    expect(await warnings(true)).toEqual([]);
  }, TEST_TIMEOUT_MS);
});

describe('remote browser options', () => {
  const load = (argv: string[], env: Record<string, string> = {}) =>
    loadConfig(configSchema, { server: 'browser', flags: parseFlags(argv, configSchema), env, envAliases, cwd: tmpdir() });

  it('--cdp-header repeats; FATHOM_CDP_HEADERS takes a comma-separated list; a line without a name is refused', () => {
    const flags = load(['--cdp-endpoint', 'ws://10.0.0.5:9222/devtools/browser/x', '--cdp-header', 'Authorization: Bearer a', '--cdp-header', 'X-Team: b']);
    expect(flags.cdpEndpoint).toBe('ws://10.0.0.5:9222/devtools/browser/x');
    expect(flags.cdpHeader).toEqual(['Authorization: Bearer a', 'X-Team: b']);
    const env = load([], { FATHOM_CDP_ENDPOINT: 'http://browser.internal:3000', FATHOM_CDP_HEADERS: 'Authorization: Bearer a, X-Team: b' });
    expect(env.cdpEndpoint).toBe('http://browser.internal:3000');
    expect(env.cdpHeader).toEqual(['Authorization: Bearer a', 'X-Team: b']);
    expect(() => load(['--cdp-header', 'no colon here'])).toThrow(/cdpHeader/);
    expect(() => load(['--cdp-endpoint', 'file:///tmp/x'])).toThrow(/cdpEndpoint/);
  });

  it('a proxy on every interface needs the address the remote browser reaches it at', async () => {
    const config = load(['--cdp-endpoint', 'ws://127.0.0.1:9/devtools/browser/x', '--cdp-proxy-host', '0.0.0.0']);
    const manager = new BrowserManager({ config, logger: createLogger('test', { level: 'silent' }) });
    try {
      await expect(manager.session('one')).rejects.toThrow(/--cdp-proxy-host 0\.0\.0\.0/);
    } finally {
      await manager.close();
    }
  });
});
