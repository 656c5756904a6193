import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BROWSER_MODES, REBOUND_HOST, TEST_TIMEOUT_MS, describeChromium, startBrowserIn } from './harness.js';
import type { Browser } from './harness.js';
import { startRecordingServer } from './hostile-site.js';
import type { RecordingServer } from './hostile-site.js';

for (const mode of BROWSER_MODES) describeChromium(`pages cannot reach private addresses (${mode} browser)`, () => {
  let browser: Browser;
  /** A private address (127.0.0.2 is not allowed, unlike the fixtures' 127.0.0.1). */
  let privateSite: RecordingServer;
  let loopback: Server;
  let loopbackHits = 0;

  beforeAll(async () => {
    browser = await startBrowserIn(mode);
    privateSite = await startRecordingServer('127.0.0.2', (_request, response) => void response.end('<title>Private</title>secret'));
    loopback = createServer((socket) => {
      loopbackHits++;
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi');
    });
    await new Promise<void>((resolve) => loopback.listen(0, '127.0.0.2', resolve));
  });

  afterAll(async () => {
    await browser?.close();
    await privateSite?.close();
    loopback?.close();
  });

  it('refuses private, metadata, file: and chrome: URLs, and redirects into private networks, and the session goes on', async () => {
    const session = await browser.session('refused');
    const loopbackUrl = `http://127.0.0.2:${(loopback.address() as AddressInfo).port}/`;
    const metadata = await session.call('browser_navigate', { url: 'http://169.254.169.254/latest/meta-data/' });
    expect(metadata.isError).toBe(true);
    expect(metadata.text).toContain('FATHOM_EGRESS_ALLOW');
    for (const url of ['file:///etc/passwd', 'chrome://version', loopbackUrl, `${privateSite.origin}/`]) {
      expect((await session.call('browser_navigate', { url })).isError, url).toBe(true);
    }
    for (const path of ['/redirect-private', `/redirect-to?url=${encodeURIComponent(loopbackUrl)}`, `/redirect-to?url=${encodeURIComponent('http://169.254.169.254/latest/')}`]) {
      const redirect = await session.call('browser_navigate', { url: `${browser.site.url}${path}` });
      expect(redirect.isError, path).toBe(true);
      expect(redirect.text).toMatch(/refused|Refused/);
      expect((await session.call('browser_snapshot')).text).toBe('No page is open: call browser_navigate first.');
    }
    // Images on private addresses: "no hits" means something only once the page has tried each one.
    const sources = ['http://10.255.255.1/x.png', `${loopbackUrl}x.png`, `${privateSite.origin}/x.png`];
    await session.call('browser_navigate', { url: `${browser.hostile.origin}/images?${sources.map((src) => `src=${encodeURIComponent(src)}`).join('&')}` });
    const settled = await session.call('browser_wait_for', { text: `all ${sources.length} images settled` });
    expect(settled.isError, settled.text).toBe(false);
    expect(loopbackHits).toBe(0);
    expect(privateSite.requests).toEqual([]);
    expect((await session.call('browser_navigate', { url: `${browser.site.url}/static.html` })).isError).toBe(false);
  }, TEST_TIMEOUT_MS);

  it('keeps a page’s images, frames, fetches and WebSockets off private addresses', async () => {
    const session = await browser.session('leaky');
    await session.call('browser_navigate', { url: `${browser.hostile.origin}/private-resources?origin=${encodeURIComponent(privateSite.origin)}` });
    const settled = await session.call('browser_wait_for', { text: 'all four attempts settled' });
    expect(settled.isError, settled.text).toBe(false);
    expect(privateSite.requests).toEqual([]);
    await browser.expectWitnessWorks(await browser.session('witness'));
  }, TEST_TIMEOUT_MS);

  it('a meta refresh to a refused address: the answer names it and says how to go on', async () => {
    const session = await browser.session('refresh');
    const witness = await browser.session('witness');
    const target = 'http://10.255.255.1/admin';
    const refreshed = await session.call('browser_navigate', { url: `${browser.hostile.origin}/meta-refresh?to=${encodeURIComponent(target)}` });
    expect(refreshed.isError).toBe(true);
    expect(refreshed.text).not.toContain('internal error');
    expect(refreshed.text).toContain(`navigated to a refused address, ${target}`);
    expect(refreshed.text).toContain('10.255.255.1 is');
    expect(refreshed.text).toContain('Open another page with browser_navigate.');
    expect((await session.call('browser_snapshot')).text).toBe('No page is open: call browser_navigate first.');
    const via = await session.call('browser_navigate', { url: `${browser.hostile.origin}/meta-refresh?to=${encodeURIComponent(`${privateSite.origin}/`)}` });
    expect(via.text).toContain(`navigated to a refused address, ${privateSite.origin}/`);
    expect(privateSite.requests).toEqual([]);
    const after = await session.call('browser_navigate', { url: `${browser.site.url}/static.html` });
    expect(after.isError, after.text).toBe(false);
    await browser.expectWitnessWorks(witness);
  }, TEST_TIMEOUT_MS);
  it('a name the browser’s own resolver maps to a private address: navigation, images, frames, fetches and WebSockets all refused', async () => {
    // In the remote browser, rebound.test resolves to 127.0.0.2 (--host-resolver-rules); the guard proxy resolves names itself.
    const session = await browser.session('rebound');
    const rebound = `http://${REBOUND_HOST}:${new URL(privateSite.origin).port}`;
    const opened = await session.call('browser_navigate', { url: `${rebound}/` });
    expect(opened.isError, opened.text).toBe(true);
    expect(opened.text).not.toContain('secret');
    const redirect = await session.call('browser_navigate', { url: `${browser.site.url}/redirect-to?url=${encodeURIComponent(`${rebound}/`)}` });
    expect(redirect.isError, redirect.text).toBe(true);
    await session.call('browser_navigate', { url: `${browser.hostile.origin}/private-resources?origin=${encodeURIComponent(rebound)}` });
    const settled = await session.call('browser_wait_for', { text: 'all four attempts settled' });
    expect(settled.isError, settled.text).toBe(false);
    expect(privateSite.requests).toEqual([]);
    await browser.expectWitnessWorks(await browser.session('witness'));
  }, TEST_TIMEOUT_MS);
});
