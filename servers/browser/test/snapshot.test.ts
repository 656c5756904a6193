import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, isFathomError } from '@fathom/core';
import { WorkerPool } from '@fathom/files/pool';
import { ariaView, diffViews, findInPage, locatorFor, markdownView, resolveRef } from '../src/snapshot.js';
import type { MarkdownMemo } from '../src/snapshot.js';
import { CHROMIUM, describeChromium } from './chromium.js';

/** The workers findInPage runs patterns in. */
const matcher = new WorkerPool({ size: 1, logger: createLogger('find-test', { level: 'silent' }) });
afterAll(() => matcher.close());

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

const FORM_PAGE = `<!doctype html><html><head><title>Form page</title><style>.x{color:red}</style><script>var a = 1;</script></head><body>
<nav><a href="/home">Home</a> <a href="/about">About us</a></nav>
<h1>Welcome</h1>
<p>This is the first paragraph of the page.</p>
<p>Read the <a href="/docs/guide">user guide</a> before you start.</p>
<form action="/search">
  <label>Query <input type="text" name="q" placeholder="Search the site"></label>
  <select name="color"><option>Red</option><option selected>Green</option><option>Blue</option></select>
  <label><input type="checkbox" name="agree" checked> I agree</label>
  <label><input type="checkbox" name="news"> Newsletter</label>
  <button type="submit">Search</button>
</form>
<div id="hidden" style="display:none"><a href="/secret">Secret link</a></div>
<button id="add" onclick="const p = document.createElement('p'); p.textContent = 'A new paragraph appeared.'; document.body.appendChild(p);">Add paragraph</button>
<div id="out"></div>
</body></html>`;

const ARTICLE_PAGE = `<!doctype html><html><head><title>On tide pools</title></head><body>
<header><a href="/">Ocean Notes</a> <nav><a href="/topics">Topics</a> <a href="/archive">Archive</a> <a href="/about">About</a></nav>
<form role="search"><input type="search" name="q" placeholder="Search"><button>Go</button></form></header>
<main><article><h1>On tide pools</h1><p class="byline">By A. Writer, 3 March 2024</p>
${Array.from({ length: 12 }, (_, i) => `<h2>Section ${i + 1}</h2><p>Tide pools are rocky pockets that hold sea water when the tide goes out. Section ${i + 1} explains how anemones, crabs and snails survive the changing conditions, with a <a href="/ref/${i}">reference</a> to further reading and a few more words to make this paragraph a realistic length for an article.</p><p>Another paragraph follows with more detail about temperature, salinity and oxygen over a day.</p>`).join('\n')}
</article></main>
<footer><a href="/privacy">Privacy</a> <a href="/terms">Terms</a> © Ocean Notes</footer></body></html>`;

let browser: Browser;
let server: Server;
let base: string;
let page: Page;

describe('diffViews', () => {
  it('no change', () => {
    expect(diffViews('a\nb', 'a\nb')).toEqual({ changed: false, text: 'The page did not change.' });
  });

  it('shows added and removed lines in order', () => {
    const before = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const after = before.replace('line 10', 'line ten').replace('line 30', 'line 30\nnew line');
    const { changed, text } = diffViews(before, after);
    expect(changed).toBe(true);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^The page changed/);
    expect(lines.filter((l) => /^[+-] /.test(l))).toEqual(['- line 10', '+ line ten', '+ new line']);
  });

  it('gives the whole new view when the diff would be bigger', () => {
    expect(diffViews('a\nb\nc', 'x\ny\nz')).toEqual({ changed: true, text: 'x\ny\nz' });
  });

  it('is fast on 5,000-line views', () => {
    const before = Array.from({ length: 5000 }, (_, i) => `paragraph ${i}`).join('\n');
    const after = Array.from({ length: 5000 }, (_, i) => (i % 500 === 0 ? `changed ${i}` : `paragraph ${i}`)).join('\n');
    const started = performance.now();
    const { changed, text } = diffViews(before, after);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(changed).toBe(true);
    expect(text).toContain('+ changed 2500');
    expect(text).toContain('- paragraph 2500');
  });
});

describeChromium('views of pages in Chromium', () => {
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    server = createServer((request, response) => {
      response.setHeader('content-type', 'text/html; charset=utf-8');
      if (request.url === '/article') response.end(ARTICLE_PAGE);
      else response.end(FORM_PAGE);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  beforeEach(async () => {
    page = await browser.newPage();
  });

  afterEach(async () => {
    await page.close();
  });

  function refAfter(markdown: string, text: string): string {
    const at = markdown.indexOf(text);
    expect(at).toBeGreaterThanOrEqual(0);
    const match = /\[ref=(m\d+)\]/.exec(markdown.slice(at));
    expect(match).not.toBeNull();
    return match![1]!;
  }

  describe('ariaView', () => {
    it('has AI refs that getByRef can click', async () => {
      await page.goto(`${base}/form`);
      const view = await ariaView(page);
      expect(view).toContain('[ref=e');
      const line = view.split('\n').find((l) => l.includes('button "Add paragraph"'));
      expect(line).toBeDefined();
      const ref = /\[ref=(e\d+)\]/.exec(line!)![1]!;
      await (await resolveRef(page, ref)).click();
      await expect.poll(() => page.locator('p', { hasText: 'A new paragraph appeared.' }).count()).toBe(1);
    });

    it('refers into iframes with f refs', async () => {
      await page.setContent('<p>outer</p><iframe srcdoc="<button>Inner</button>"></iframe>');
      await page.frames()[1]?.waitForLoadState();
      const view = await ariaView(page);
      const ref = /button "Inner" \[ref=(f\d+e\d+)\]/.exec(view)?.[1];
      expect(ref).toBeDefined();
      expect(await (await resolveRef(page, ref!)).textContent()).toBe('Inner');
    });
  });

  describe('markdownView', () => {
    it('shows content with refs on links, buttons and fields', async () => {
      await page.goto(`${base}/form`);
      const { title, markdown } = await markdownView(page);
      expect(title).toBe('Form page');
      expect(markdown).toContain('# Welcome');
      expect(markdown).toContain('This is the first paragraph of the page.');
      expect(markdown).toMatch(/\[user guide \[ref=m\d+\]\]\(http:\/\/127\.0\.0\.1:\d+\/docs\/guide\)/);
      expect(markdown).toMatch(/\[Home \[ref=m\d+\]\]/);
      expect(markdown).toMatch(/\[button: Search\] \[ref=m\d+\]/);
      expect(markdown).toMatch(/\[button: Add paragraph\] \[ref=m\d+\]/);
      expect(markdown).toMatch(/\[input type=text name=q placeholder="Search the site"\] \[ref=m\d+\]/);
      expect(markdown).toMatch(/\[select color: options Red \| Green \(selected\) \| Blue\] \[ref=m\d+\]/);
      expect(markdown).toMatch(/\[checkbox name=agree checked\] \[ref=m\d+\] I agree/);
      expect(markdown).toMatch(/\[checkbox name=news unchecked\] \[ref=m\d+\] Newsletter/);
      expect(markdown).not.toContain('Secret link');
      expect(markdown).not.toContain('var a');
      expect(markdown).not.toContain('color:red');
      expect(markdown).not.toContain('FATHOMMARK');
      expect(markdown).not.toContain('\\[');
    });

    it('an m ref clicks its element, and refs stay put across views', async () => {
      await page.goto(`${base}/form`);
      const first = (await markdownView(page)).markdown;
      const ref = refAfter(first, 'Add paragraph');
      await (await resolveRef(page, ref)).click();
      await expect.poll(() => page.locator('p', { hasText: 'A new paragraph appeared.' }).count()).toBe(1);
      const second = (await markdownView(page)).markdown;
      expect(second).toContain('A new paragraph appeared.');
      for (const text of ['Add paragraph', 'user guide', 'Home', 'button: Search', 'name=q']) {
        expect(refAfter(second, text)).toBe(refAfter(first, text));
      }
    });

    it('reflects typed values and checked state', async () => {
      await page.goto(`${base}/form`);
      const markdown = (await markdownView(page)).markdown;
      await (await resolveRef(page, refAfter(markdown, 'name=q'))).fill('tide pools');
      await (await resolveRef(page, refAfter(markdown, 'name=news'))).check();
      await (await resolveRef(page, refAfter(markdown, 'select color'))).selectOption('Blue');
      const after = (await markdownView(page)).markdown;
      expect(after).toContain('[input type=text name=q value="tide pools" placeholder="Search the site"]');
      expect(after).toMatch(/\[checkbox name=news checked\]/);
      expect(after).toContain('Blue (selected)');
    });

    it('a ref whose element is gone is not_found with a hint', async () => {
      await page.goto(`${base}/form`);
      const markdown = (await markdownView(page)).markdown;
      const ref = refAfter(markdown, 'Add paragraph');
      await page.evaluate('document.getElementById("add").remove()');
      const error = await resolveRef(page, ref).catch((e: unknown) => e);
      expect(isFathomError(error, 'not_found')).toBe(true);
      expect((error as Error).message).toBe(`No element ${ref} on the page`);
      expect((error as { hint?: string }).hint).toContain('take a new snapshot');
      const unknown = await resolveRef(page, 'e9999').catch((e: unknown) => e);
      expect(isFathomError(unknown, 'not_found')).toBe(true);
      expect(() => locatorFor(page, 'nonsense')).toThrow(/not an element ref/);
    });

    it('a page that clones an element with its ref gets a fresh ref for the copy', async () => {
      await page.setContent('<button id="a">One</button><div id="box"></div>');
      const first = (await markdownView(page)).markdown;
      const ref = refAfter(first, 'One');
      await page.evaluate('const c = document.getElementById("a").cloneNode(true); c.textContent = "Two"; document.getElementById("box").appendChild(c)');
      const second = (await markdownView(page)).markdown;
      expect(refAfter(second, 'One')).toBe(ref);
      expect(refAfter(second, 'Two')).not.toBe(ref);
      expect(await (await resolveRef(page, refAfter(second, 'Two'))).textContent()).toBe('Two');
    });

    it('is compact for an article page', async () => {
      await page.goto(`${base}/article`);
      const { markdown } = await markdownView(page);
      const aria = await ariaView(page);
      expect(markdown).toContain('# On tide pools');
      expect(markdown).toMatch(/\[Privacy \[ref=m\d+\]\]/);
      expect(markdown).toMatch(/\[input type=search name=q placeholder="Search"\]/);
      expect(markdown.length).toBeLessThan(ARTICLE_PAGE.length);
      process.stdout.write(`article page: html ${ARTICLE_PAGE.length}, markdown ${markdown.length}, aria ${aria.length} chars\n`);
    });
  });

  describe('diffViews on a page', () => {
    it('clicking a button that adds a paragraph shows only the added lines', async () => {
      await page.goto(`${base}/form`);
      const before = (await markdownView(page)).markdown;
      await (await resolveRef(page, refAfter(before, 'Add paragraph'))).click();
      const after = (await markdownView(page)).markdown;
      const { changed, text } = diffViews(before, after);
      expect(changed).toBe(true);
      const body = text.split('\n').slice(1).filter((l) => !l.startsWith('@@'));
      expect(body.length).toBeGreaterThan(0);
      expect(body.every((l) => l.startsWith('+ ') || l === '+ ' || l === '+')).toBe(true);
      expect(body.join('\n')).toContain('A new paragraph appeared.');
      expect(diffViews(after, (await markdownView(page)).markdown)).toEqual({ changed: false, text: 'The page did not change.' });
    });

    it('typing into a field shows the field line changing', async () => {
      await page.goto(`${base}/form`);
      const before = (await markdownView(page)).markdown;
      await (await resolveRef(page, refAfter(before, 'name=q'))).fill('crabs');
      const { changed, text } = diffViews(before, (await markdownView(page)).markdown);
      expect(changed).toBe(true);
      const body = text.split('\n').slice(1).filter((l) => !l.startsWith('@@'));
      expect(body.some((l) => l.startsWith('+ ') && l.includes('value="crabs"'))).toBe(true);
      expect(body.every((l) => l.startsWith('+ ') || l.startsWith('- '))).toBe(true);
    });
  });

  describe('findInPage', () => {
    it('finds text with context and the ref of its element', async () => {
      await page.goto(`${base}/form`);
      const { matches, total } = await findInPage(page, 'USER guide', { matcher });
      expect(total).toBe(1);
      expect(matches[0]!.text).toContain('Read the user guide before you start');
      expect(matches[0]!.ref).toMatch(/^m\d+$/);
      expect(await (await resolveRef(page, matches[0]!.ref!)).getAttribute('href')).toBe('/docs/guide');
      // The same element keeps the same ref in the markdown view.
      expect(refAfter((await markdownView(page)).markdown, 'user guide')).toBe(matches[0]!.ref);
    });

    it('points text next to a field at the field', async () => {
      await page.goto(`${base}/form`);
      const { matches } = await findInPage(page, 'Query', { matcher });
      expect(matches).toHaveLength(1);
      expect(await (await resolveRef(page, matches[0]!.ref!)).getAttribute('name')).toBe('q');
    });

    it('finds by regex, counts beyond the limit and skips hidden text', async () => {
      await page.goto(`${base}/form`);
      const { matches, total } = await findInPage(page, 'p[a-z]+graph', { regex: true, limit: 1, matcher });
      expect(total).toBe(2);
      expect(matches).toHaveLength(1);
      expect(matches[0]!.text).toContain('first paragraph');
      expect((await findInPage(page, 'Secret', { matcher })).total).toBe(0);
    });

    it('rejects an invalid regex', async () => {
      await page.goto(`${base}/form`);
      const error = await findInPage(page, '(unclosed', { regex: true, matcher }).catch((e: unknown) => e);
      expect(isFathomError(error, 'invalid_argument')).toBe(true);
      // As plain text the same query is fine.
      expect((await findInPage(page, '(unclosed', { matcher })).total).toBe(0);
    });
  });

  describe('a large page', () => {
    it('views 5,000 paragraphs quickly', async () => {
      const paragraphs = Array.from({ length: 5000 }, (_, i) => `<p>Paragraph number ${i} with a <a href="/p/${i}">link ${i}</a> and some words.</p>`).join('');
      await page.setContent(`<html><head><title>Big</title></head><body><h1>Big</h1>${paragraphs}</body></html>`);
      const memo: MarkdownMemo = {};
      let started = performance.now();
      const view = await markdownView(page, undefined, memo);
      const { markdown } = view;
      const markdownMs = performance.now() - started;
      expect(markdown).toContain('Paragraph number 4999');
      expect(markdown).toMatch(/\[link 4999 \[ref=m\d+\]\]/);
      started = performance.now();
      const unchanged = await markdownView(page, undefined, memo);
      const unchangedMs = performance.now() - started;
      // The page has not changed, so it was not converted again.
      expect(unchanged).toBe(view);
      const again = (await markdownView(page)).markdown;
      expect(diffViews(markdown, again).changed).toBe(false);
      started = performance.now();
      const aria = await ariaView(page);
      const ariaMs = performance.now() - started;
      started = performance.now();
      const found = await findInPage(page, 'number 4321 ', { matcher });
      const findMs = performance.now() - started;
      expect(found.total).toBe(1);
      expect(aria).toContain('[ref=e');
      process.stdout.write(`5,000 paragraphs: markdown ${Math.round(markdownMs)} ms (${markdown.length} chars; unchanged again ${Math.round(unchangedMs)} ms), aria ${Math.round(ariaMs)} ms (${aria.length} chars), find ${Math.round(findMs)} ms\n`);
      expect(markdownMs).toBeLessThan(6000);
      expect(unchangedMs).toBeLessThan(1500);
      expect(ariaMs).toBeLessThan(4000);
      expect(findMs).toBeLessThan(2000);
    });
  });
});
