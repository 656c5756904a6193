import { afterAll, beforeAll, expect, it } from 'vitest';
import { TEST_TIMEOUT_MS, describeChromium, startBrowser } from './harness.js';
import type { Answer, Browser } from './harness.js';

const refOf = (text: string, label: string) => new RegExp(`${label}[^\\n]*?\\[ref=(m\\d+)\\]`).exec(text)?.[1];

function expectNotResponding(answer: Answer): void {
  expect(answer.isError, answer.text).toBe(true);
  expect(answer.text).toContain('The page is not responding: its scripts keep the browser busy');
  expect(answer.text).toContain('Open another page (browser_navigate) or a new tab (browser_tabs new)');
}

describeChromium('a page whose scripts never stop', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await startBrowser({ 'action-timeout-seconds': '3', 'navigation-timeout-seconds': '5' });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('spinning after an event: the action and later reads say the page is not responding; navigating away works', async () => {
    const attacker = await browser.session('click');
    const witness = await browser.session('witness');
    const trap = await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/spin-on-click` });
    const button = refOf(trap.text, 'Do not press');
    expect(button).toBeDefined();
    const [clicked] = await Promise.all([attacker.call('browser_click', { ref: button }), browser.expectWitnessWorks(witness)]);
    expectNotResponding(clicked);
    expectNotResponding(await attacker.call('browser_snapshot'));
    expectNotResponding(await attacker.call('browser_find', { query: 'trap' }));
    const tabs = await attacker.call('browser_tabs', { action: 'list' });
    expect(tabs.text).toContain('0. (current) (not responding)');
    // The same site: its renderer is the busy one, so the tab is replaced to get there.
    const away = await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/catastrophic` });
    expect(away.isError, away.text).toBe(false);
    expect(away.text).toContain('Tab 0 was not responding (its scripts kept the browser busy), so it was closed and replaced by a new tab.');
    expect(away.text).toContain('The word harbour appears once.');
    await browser.expectWitnessWorks(witness);
  }, TEST_TIMEOUT_MS);

  it('spinning while loading: the navigation says the page is not responding; the tab can be closed', async () => {
    const attacker = await browser.session('load');
    const witness = await browser.session('witness');
    const [opened] = await Promise.all([
      attacker.call('browser_navigate', { url: `${browser.hostile.origin}/spin-inline` }),
      browser.expectWitnessWorks(witness),
    ]);
    expectNotResponding(opened);
    const closed = await attacker.call('browser_tabs', { action: 'close', index: 0 });
    expect(closed.isError, closed.text).toBe(false);
    expect(closed.text).toMatch(/^0\. \(current\) \(untitled\) — about:blank$/m);
    const next = await attacker.call('browser_navigate', { url: `${browser.site.url}/second.html` });
    expect(next.isError, next.text).toBe(false);
    expect(next.text).toContain('Arrived from the static page.');
    await browser.expectWitnessWorks(witness);
  }, TEST_TIMEOUT_MS);
});
