import { afterAll, beforeAll, expect, it } from 'vitest';
import { TEST_TIMEOUT_MS, describeChromium, startBrowser } from './harness.js';
import type { Browser } from './harness.js';

describeChromium('browser_find with a pattern that backtracks without end', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await startBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('answers that the pattern is too costly, and the session and a witness go on', async () => {
    const attacker = await browser.session('attacker');
    const witness = await browser.session('witness');
    await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/catastrophic` });
    const [costly] = await Promise.all([attacker.call('browser_find', { query: '(a+)+$', regex: true }), browser.expectWitnessWorks(witness)]);
    expect(costly.isError).toBe(true);
    expect(costly.text).toContain('too costly');
    expect(costly.text).toContain('plain text (regex: false)');
    const plain = await attacker.call('browser_find', { query: 'harbour' });
    expect(plain.isError, plain.text).toBe(false);
    expect(plain.text).toMatch(/^1 match/);
    const regex = await attacker.call('browser_find', { query: 'harb\\w+ appears', regex: true });
    expect(regex.text).toMatch(/^1 match/);
    const view = await attacker.call('browser_snapshot');
    expect(view.text).toContain('The word harbour appears once.');
    await browser.expectWitnessWorks(witness);
  }, TEST_TIMEOUT_MS);
});
