import { afterAll, beforeAll, expect, it } from 'vitest';
import { BROWSER_MODES, TEST_TIMEOUT_MS, describeChromium, startBrowserIn } from './harness.js';
import type { Browser } from './harness.js';
import { startRecordingServer } from './hostile-site.js';
import type { RecordingServer } from './hostile-site.js';

for (const mode of BROWSER_MODES) describeChromium(`cross-origin requests keep the browser’s real CORS checks (${mode} browser)`, () => {
  let browser: Browser;
  let other: RecordingServer;

  beforeAll(async () => {
    // Blocking a resource type must not bring request interception (and Playwright's allow-all preflights) back.
    browser = await startBrowserIn(mode, { 'block-resources': 'image' });
    other = await startRecordingServer('127.0.0.1');
  });

  afterAll(async () => {
    await browser?.close();
    await other?.close();
  });

  it('a page cannot send a credentialed DELETE with custom headers to an origin that does not allow it', async () => {
    const attacker = await browser.session('attacker');
    const witness = await browser.session('witness');
    const target = `${other.origin}/mcp/session`;
    const opened = await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/preflight?target=${encodeURIComponent(target)}` });
    expect(opened.isError, opened.text).toBe(false);
    const done = await attacker.call('browser_wait_for', { text: 'fetch done' });
    expect(done.isError, done.text).toBe(false);
    expect((await attacker.call('browser_snapshot')).text).toContain('fetch done: error TypeError');
    expect(other.requests.filter((request) => !request.startsWith('OPTIONS '))).toEqual([]);
    expect(other.requests).toEqual(['OPTIONS /mcp/session']);
    await browser.expectWitnessWorks(witness);
  }, TEST_TIMEOUT_MS);

  it('still keeps blocked resource types from loading', async () => {
    const session = await browser.session('images');
    const opened = await session.call('browser_navigate', { url: `${browser.hostile.origin}/image` });
    expect(opened.text).toContain('Picture below.');
    expect(browser.hostile.requests).toContain('GET /image');
    expect(browser.hostile.requests).not.toContain('GET /pixel.png');
  }, TEST_TIMEOUT_MS);
});
