import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { startBrowserSite } from '../../../tests/fixtures/browser-site.js';
import { SERVER_TOOLS, freePort } from '../../../tests/helpers.js';
import type { BrowserSite } from '../../../tests/fixtures/browser-site.js';
import { outputChecker } from '../../../tests/outputs.js';
import { configSchema } from '../src/config.js';
import { describeChromium } from './chromium.js';
import type { Config } from '../src/config.js';
import { createServer as createBrowserServer, definition } from '../src/server.js';

let site: BrowserSite;
let output: string;
let config: Config;
/** Each test's own MCP session, so its own browser context: no test sees another's tabs, cookies or late navigations. */
let connection: InMemoryConnection;

async function call(name: string, args: Record<string, unknown> = {}, on = connection) {
  const result = await on.client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 });
  const content = (result.content ?? []) as { type: string; mimeType?: string }[];
  return { text: textOf(result), isError: result.isError === true, images: content.filter((block) => block.type === 'image').map((block) => block.mimeType) };
}

const refOf = (text: string, label: string) => new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\n]*?\\[ref=(m\\d+)\\]`).exec(text)?.[1];

beforeAll(async () => {
  site = await startBrowserSite();
  output = mkdtempSync(join(tmpdir(), 'fathom-browser-out-'));
  config = loadConfig(configSchema, { server: 'browser', flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'cache-mode': 'off' }, env: {}, cwd: tmpdir() });
});

beforeEach(async () => {
  connection = await connectInMemory(await createBrowserServer(config));
});

afterEach(async () => {
  await connection?.close();
});

afterAll(async () => {
  await definition.shutdown();
  await site?.close();
  if (output) rmSync(output, { recursive: true, force: true });
});

describeChromium('browser server tools (Chromium)', () => {
  it('lists its tools', async () => {
    const { tools } = await connection.client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(SERVER_TOOLS.browser);
  });

  it('navigates and returns the title, status and a compact view with refs; back and forward', async () => {
    const page = await call('browser_navigate', { url: `${site.url}/static.html` });
    expect(page.isError).toBe(false);
    expect(page.text).toContain('Title: Static page');
    expect(page.text).toContain('Status: 200');
    expect(page.text).toContain('The harbour master logged 312 ships in 1897.');
    expect(page.text).toMatch(/\| 1897 \| 312 \|/);
    const link = refOf(page.text, 'second page');
    expect(link).toBeDefined();
    const clicked = await call('browser_click', { ref: link });
    expect(clicked.text).toContain('Page: ' + `${site.url}/second.html`);
    expect(clicked.text).toContain('Arrived from the static page.');
    const back = await call('browser_back');
    expect(back.text).toContain('Title: Static page');
    const forward = await call('browser_forward');
    expect(forward.text).toContain('Title: Second page');
    const reload = await call('browser_reload');
    expect(reload.text).toContain('Title: Second page');
  });

  it("shows the page's title once, in the header, and its heading once", async () => {
    const page = await call('browser_navigate', { url: `${site.url}/heading.html` });
    expect(page.text.match(/Tide tables/g)).toHaveLength(2);
    expect(page.text).toContain('Title: Tide tables');
    expect(page.text.match(/^# Tide tables$/gm)).toHaveLength(1);
    const view = await call('browser_snapshot');
    expect(view.text.match(/^# Tide tables$/gm)).toHaveLength(1);
    const titleOnly = await call('browser_navigate', { url: `${site.url}/static.html` });
    expect(titleOnly.text.match(/Static page/g)).toEqual(['Static page']);
  });

  it('reads pages built by JavaScript and shows what an action changed', async () => {
    await call('browser_navigate', { url: `${site.url}/js.html` });
    const waited = await call('browser_wait_for', { text: 'Built by script' });
    expect(waited.text).toMatch(/^"Built by script" appeared after \d+\.\d s\./);
    const view = await call('browser_snapshot');
    expect(view.text).toContain('Rendered value: 4096.');
    const button = refOf(view.text, 'Show more');
    const after = await call('browser_click', { ref: button });
    expect(after.text).toContain('Extra paragraph appeared.');
  });

  it('waits for as long as it was asked and says how long it waited', async () => {
    await call('browser_navigate', { url: `${site.url}/static.html` });
    const measured = (text: string) => Number(/Waited (\d+\.\d) s/.exec(text)?.[1]);
    let started = Date.now();
    const pause = await call('browser_wait_for', { time_s: 2 });
    expect(pause.text).toMatch(/^Waited \d+\.\d s\./);
    expect(measured(pause.text)).toBeGreaterThanOrEqual(2);
    expect(measured(pause.text)).toBeLessThanOrEqual((Date.now() - started) / 1000);
    started = Date.now();
    const missing = await call('browser_wait_for', { text: 'never on this page', time_s: 2 });
    expect(missing.isError).toBe(true);
    expect(missing.text).toMatch(/^Waited \d+\.\d s and "never on this page" did not appear\./);
    expect(measured(missing.text)).toBeGreaterThanOrEqual(2);
    expect(measured(missing.text)).toBeLessThan(config.actionTimeoutSeconds);
    expect(measured(missing.text)).toBeLessThanOrEqual((Date.now() - started) / 1000);
    const present = await call('browser_wait_for', { text: 'Harbour records', time_s: 5 });
    expect(present.text).toMatch(/^"Harbour records" appeared after \d+\.\d s\./);
  });

  it('fills and submits a form: type, select, check, press', async () => {
    const form = await call('browser_navigate', { url: `${site.url}/form.html` });
    const query = refOf(form.text, 'Search the catalogue');
    const kind = refOf(form.text, 'select');
    expect(query && kind).toBeTruthy();
    await call('browser_select', { ref: kind, values: ['maps'] });
    const typed = await call('browser_type', { ref: query, text: 'harbour charts', submit: true });
    expect(typed.text).toContain('Results for harbour charts');
    expect(typed.text).toContain('Kind: maps');
  });

  it('offers the accessibility tree with its own refs, and clicks by them', async () => {
    await call('browser_navigate', { url: `${site.url}/static.html` });
    const aria = await call('browser_snapshot', { mode: 'aria' });
    const ref = /link "second page" \[ref=((?:f\d+)?e\d+)\]/.exec(aria.text)?.[1];
    expect(ref).toBeDefined();
    const clicked = await call('browser_click', { ref, full: true });
    expect(clicked.text).toContain(`${site.url}/second.html`);
  });

  it('says that no page is open until browser_navigate opens one', async () => {
    for (const [tool, args] of [
      ['browser_snapshot', {}],
      ['browser_click', { ref: 'm1' }],
      ['browser_type', { ref: 'm1', text: 'x' }],
      ['browser_find', { query: 'x' }],
      ['browser_wait_for', { time_s: 1 }],
      ['browser_screenshot', { ref: 'm1' }],
    ] as const) {
      const answer = await call(tool, args);
      expect(answer.isError, tool).toBe(true);
      expect(answer.text, tool).toBe('No page is open: call browser_navigate first.');
    }
    const blankShot = await call('browser_screenshot');
    expect(blankShot.images).toEqual(['image/png']);
    expect(blankShot.text).toBe('Screenshot of a blank tab. No page is open: call browser_navigate first.');
    expect((await call('browser_navigate', { url: `${site.url}/static.html` })).isError).toBe(false);
    await call('browser_tabs', { action: 'new' });
    const blank = await call('browser_snapshot');
    expect(blank.text).toBe('No page is open: call browser_navigate first.\nOr switch to a tab that has a page (browser_tabs list shows them).');
  });

  it('opens the next page right after one that failed on the network (Chromium shows its error page late)', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/`;
    for (let round = 0; round < 5; round++) {
      expect((await call('browser_navigate', { url: closed })).isError).toBe(true);
      expect((await call('browser_snapshot')).text).toBe('No page is open: call browser_navigate first.');
      const next = await call('browser_navigate', { url: `${site.url}/second.html` });
      expect(next.isError, next.text).toBe(false);
      expect(next.text).toContain('Arrived from the static page.');
    }
    // A failure that comes late: the error page follows it, however long the navigation took.
    const dropped = await call('browser_navigate', { url: `${site.url}/drop?ms=2500` });
    expect(dropped.text).toMatch(/^Connection lost: http:\/\/127\.0\.0\.1:\d+ closed the connection without an answer\./);
    const after = await call('browser_navigate', { url: `${site.url}/second.html` });
    expect(after.isError, after.text).toBe(false);
  });

  it("answers a click once what it fetched is on the page, however long the fetch took", async () => {
    const late = createHttpServer((request, response) => {
      if (request.url === '/data') return void setTimeout(() => response.end('Fetched after a while.'), 1500);
      response.setHeader('content-type', 'text/html');
      response.end(
        '<title>Late</title><button onclick="fetch(\'/data\').then((r) => r.text()).then((t) => { document.getElementById(\'out\').textContent = t; })">Load</button><p id="out"></p>',
      );
    });
    await new Promise<void>((resolve) => late.listen(0, '127.0.0.1', resolve));
    try {
      const page = await call('browser_navigate', { url: `http://127.0.0.1:${(late.address() as AddressInfo).port}/` });
      const clicked = await call('browser_click', { ref: refOf(page.text, 'Load') });
      expect(clicked.text).toContain('Fetched after a while.');
    } finally {
      late.closeAllConnections();
      late.close();
    }
  });

  it('says to take a new snapshot when a ref is stale or unknown', async () => {
    await call('browser_navigate', { url: `${site.url}/static.html` });
    const stale = await call('browser_click', { ref: 'm9999' });
    expect(stale.isError).toBe(true);
    expect(stale.text).toContain('take a new snapshot');
  });

  it("finds text with the text of the element it is in as context, cut around the match when long", async () => {
    await call('browser_navigate', { url: `${site.url}/find.html` });
    const gamma = await call('browser_find', { query: 'Gamma' });
    expect(gamma.text).toMatch(/^1 match:\n1\. Gamma is the third letter\.( \[|$)/);
    const epsilon = await call('browser_find', { query: 'Epsilon' });
    const context = /^1\. (.*?)( \[ref=.*)?$/m.exec(epsilon.text)?.[1] ?? '';
    expect(context).toMatch(/^….*Epsilon sits in the middle of a long paragraph\..*…$/);
    expect(context.length).toBeLessThanOrEqual(302);
    expect(context).not.toContain('Gamma');
    const zeta = await call('browser_find', { query: 'Zeta' });
    expect(zeta.text).toMatch(/^1 match:\n1\. Zeta 6( \[|$)/);
  });

  it('points a match at the element that holds its text, and says when that is plain text', async () => {
    const page = await call('browser_navigate', { url: `${site.url}/find.html` });
    const field = /\[input type=text name=filter[^\n]*\[ref=(m\d+)\]/.exec(page.text)?.[1];
    expect(field).toBeDefined();
    const credit = await call('browser_find', { query: 'Rendered by' });
    const ref = /^1\. Rendered by the fixture server\. \[ref=(m\d+), plain text\]$/m.exec(credit.text)?.[1];
    expect(ref, credit.text).toBeDefined();
    expect(ref).not.toBe(field);
    expect(credit.text).toContain('[note] "plain text": no link, button or field holds that text.');
    const clicked = await call('browser_click', { ref });
    expect(clicked.text).toContain('Credit clicked.');
    const label = await call('browser_find', { query: 'Filter' });
    expect(label.text).toMatch(new RegExp(`^1\\. Filter Letter \\[ref=${field}\\]$`, 'm'));
    expect(label.text).not.toContain('plain text');
  });

  it('finds text with its context, hovers, scrolls, presses keys and takes screenshots', async () => {
    await call('browser_navigate', { url: `${site.url}/static.html` });
    const found = await call('browser_find', { query: '312 ships' });
    expect(found.text).toMatch(/^1 match/);
    expect(found.text).toContain('harbour master');
    const regex = await call('browser_find', { query: '18\\d\\d', regex: true });
    expect(regex.text).toMatch(/^\d+ matches/);
    const bad = await call('browser_find', { query: '(', regex: true });
    expect(bad.isError).toBe(true);
    await call('browser_navigate', { url: `${site.url}/hover.html` });
    const hoverView = await call('browser_snapshot');
    const tip = refOf(hoverView.text, 'Hover here');
    if (tip) expect((await call('browser_hover', { ref: tip })).isError).toBe(false);
    expect((await call('browser_scroll', { direction: 'down' })).isError).toBe(false);
    expect((await call('browser_press', { key: 'End' })).isError).toBe(false);
    const shot = await call('browser_screenshot', { full_page: true });
    expect(shot.images).toEqual(['image/png']);
  });

  it('dismisses dialogs and reports them; popups become tabs', async () => {
    const page = await call('browser_navigate', { url: `${site.url}/dialog.html` });
    const after = await call('browser_click', { ref: refOf(page.text, 'Alert me') });
    expect(after.text).toContain('Hello from the page');
    const opener = await call('browser_navigate', { url: `${site.url}/popup.html` });
    await call('browser_click', { ref: refOf(opener.text, 'Open in a new tab') });
    const tabs = await call('browser_tabs', { action: 'list' });
    expect(tabs.text).toContain('second.html');
    expect(tabs.text).toMatch(/^1\. /m);
    await call('browser_tabs', { action: 'close', index: 1 });
    const opened = await call('browser_tabs', { action: 'new', url: `${site.url}/second.html` });
    expect(opened.text).toContain('second.html');
  });

  it('saves downloads where the files server can read them', async () => {
    const page = await call('browser_navigate', { url: `${site.url}/download.html` });
    await call('browser_click', { ref: refOf(page.text, 'Download the report') });
    let listed = '';
    for (let attempt = 0; attempt < 20 && !listed.includes('report.csv'); attempt++) {
      listed = (await call('browser_downloads')).text;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const path = /saved at (.+)$/m.exec(listed)?.[1];
    if (!path) console.log('downloads answer:', listed);
    expect(path?.startsWith(output)).toBe(true);
    expect(existsSync(path!)).toBe(true);
    expect(readFileSync(path!, 'utf8')).toBe('year,ships\n1897,312\n');
  });

  it('stops a page that never finishes loading with a clear error', async () => {
    const slow = await call('browser_navigate', { url: `${site.url}/slow?ms=60000` });
    expect(slow.isError).toBe(true);
    expect(slow.text).toMatch(/did not finish loading|timed out|timeout/i);
    expect((await call('browser_navigate', { url: `${site.url}/second.html` })).isError).toBe(false);
  }, 90_000);
});

describeChromium('browser structured output (Chromium)', () => {
  it('answers every data tool with structuredContent that validates against the outputSchema it advertises', async () => {
    const evaluating = loadConfig(configSchema, { server: 'browser', flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'enable-evaluate': 'true' }, env: {}, cwd: tmpdir() });
    const browser = await connectInMemory(await createBrowserServer(evaluating));
    try {
      const checker = await outputChecker(browser.client);
      const text = (result: object) => textOf(result);
      const form = await checker.call('browser_navigate', { url: `${site.url}/form.html`, max_chars: 500 });
      expect(form.structuredContent).toMatchObject({ url: `${site.url}/form.html`, status: 200 });
      await checker.call('browser_snapshot', {});
      await checker.call('browser_snapshot', { mode: 'aria', max_chars: 500 });
      await checker.call('browser_select', { ref: refOf(text(form), 'select'), values: ['maps'] });
      const typed = await checker.call('browser_type', { ref: refOf(text(form), 'Search the catalogue'), text: 'harbour charts', submit: true });
      expect(typed.structuredContent).toMatchObject({ done: 'Typed into ' + refOf(text(form), 'Search the catalogue') + ' and pressed Enter.' });
      await checker.call('browser_back', {});
      await checker.call('browser_forward', {});
      await checker.call('browser_reload', {});
      const page = await checker.call('browser_navigate', { url: `${site.url}/static.html` });
      await checker.call('browser_find', { query: 'no such text anywhere' });
      const found = await checker.call('browser_find', { query: 'second', regex: true });
      expect((found.structuredContent as { total: number }).total).toBeGreaterThan(0);
      await checker.call('browser_hover', { ref: refOf(text(page), 'second') });
      await checker.call('browser_scroll', { direction: 'down' });
      await checker.call('browser_press', { key: 'Escape' });
      await checker.call('browser_wait_for', { time_s: 0 });
      await checker.call('browser_click', { ref: refOf(text(page), 'second') });
      const tabs = await checker.call('browser_tabs', { action: 'new', url: `${site.url}/second.html` });
      expect((tabs.structuredContent as { tabs: { current: boolean }[] }).tabs.map((tab) => tab.current)).toEqual([false, true]);
      await checker.call('browser_tabs', { action: 'list' });
      await checker.call('browser_downloads', {});
      const opened = await checker.call('browser_open', {});
      await checker.call('browser_navigate', { url: `${site.url}/static.html`, context_id: opened.structuredContent?.context_id });
      await checker.call('browser_evaluate', { expression: '({ title: document.title, n: 2 })' });
      await checker.call('browser_evaluate', { expression: 'undefined' });
      const screenshot = await checker.call('browser_screenshot', {});
      expect(screenshot.structuredContent).toBeUndefined();
      expect(checker.unchecked()).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describeChromium('browser server sessions (Chromium)', () => {
  it('offers browser_evaluate only when enabled', async () => {
    const evaluating = loadConfig(configSchema, { server: 'browser', flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'enable-evaluate': 'true' }, env: {}, cwd: tmpdir() });
    const withEvaluate = await connectInMemory(await createBrowserServer(evaluating));
    const { tools } = await withEvaluate.client.listTools();
    expect(tools.map((tool) => tool.name)).toContain('browser_evaluate');
    await call('browser_navigate', { url: `${site.url}/static.html` }, withEvaluate);
    const value = await call('browser_evaluate', { expression: 'document.title' }, withEvaluate);
    expect(value.text).toContain('Static page');
    await withEvaluate.close();
  });
});
