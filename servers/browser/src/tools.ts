import { continuationNote, cutToBudget, defineTool, FathomError } from '@fathom/core';
import type { ServerContext, Tool, ToolContext } from '@fathom/core';
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import type { Page } from 'playwright-core';
import { z } from 'zod';
import { isBlankPage, isPlaywrightTimeout } from './browser.js';
import type { BrowserManager, BrowserSession } from './browser.js';
import type { Config } from './config.js';
import { ariaView, diffViews, findInPage, markdownView, resolveRef } from './snapshot.js';
import type { FindMatch } from './snapshot.js';

/** The view an agent saw last on each tab, to answer an action with what changed. */
const lastViews = new WeakMap<Page, { mode: Mode; text: string }>();

type Mode = 'markdown' | 'aria';
const DEFAULT_VIEW_CHARS = 6000;
const refField = z.string().min(1).max(40).describe('An element ref from the last snapshot, e.g. m12 or e7');
const fullField = z.boolean().default(false).describe('Return the whole page view instead of what changed');

/** The page as the agent reads it; every in-page step under the session's time limit. */
async function view(session: BrowserSession, page: Page, mode: Mode): Promise<string> {
  if (mode === 'aria') return session.read(page, () => ariaView(page));
  // The page's title is in the answer's header (Title: ...), not repeated here as a heading.
  return (await markdownView(page, (script) => session.read(page, () => page.evaluate(script)))).markdown;
}

/** Lines that open every answer: where the page is, and what happened that the agent did not ask for. */
function header(session: BrowserSession, page: Page, extra: string[] = []): string {
  const lines = [`Page: ${page.url()}`, ...extra];
  if (session.lost) {
    lines.push(`[note] ${session.lost}`);
    session.lost = undefined;
  }
  for (const event of session.takeEvents()) lines.push(`[event] ${event}`);
  return lines.join('\n');
}

const NO_PAGE = 'No page is open: call browser_navigate first.';

/** The current tab's page, for a tool that reads or acts on it: a blank tab has nothing to read or act on. */
async function openPage(session: BrowserSession): Promise<Page> {
  const page = await session.page();
  if (isBlankPage(page)) {
    throw new FathomError('not_found', NO_PAGE, {
      hint: session.tabs.length > 1 ? 'Or switch to a tab that has a page (browser_tabs list shows them).' : undefined,
    });
  }
  return page;
}

function budgeted(text: string, maxChars: number, cursor?: string): string {
  const slice = cutToBudget(text, { maxChars, ...(cursor ? { cursor } : {}) });
  return [slice.text, continuationNote(slice)].filter(Boolean).join('\n\n');
}

/** The tools of one server instance (an MCP session over HTTP, a client over stdio): its browser context is its own and closes with it. */
export function toolsFor({ config, runtime: manager, instance }: ServerContext<Config, BrowserManager>): Tool[] {
  let closed = false;
  const sessionOf = (context: ToolContext) => {
    if (closed) throw new FathomError('cancelled', 'The MCP session was closed', { hint: 'Connect again.' });
    // The downloads folder is named after the MCP session where there is one.
    return manager.session(instance.id, context.sessionId ?? instance.id);
  };
  instance.onClose(() => {
    closed = true;
    return manager.closeSession(instance.id);
  });

  /** A fresh view of the current tab, cut to the budget; remembered for the next diff. */
  async function fullView(session: BrowserSession, mode: Mode, maxChars: number, cursor?: string): Promise<string> {
    const page = session.current;
    const text = await view(session, page, mode);
    lastViews.set(page, { mode, text });
    return budgeted(text, maxChars, cursor);
  }

  /** After an action: what changed since the last view (or the whole view when asked or when there is none). */
  async function changes(session: BrowserSession, full: boolean): Promise<string> {
    const page = session.current;
    const last = lastViews.get(page);
    const mode = last?.mode ?? 'markdown';
    const text = await view(session, page, mode);
    lastViews.set(page, { mode, text });
    if (full || !last) return budgeted(text, DEFAULT_VIEW_CHARS);
    return budgeted(diffViews(last.text, text).text, DEFAULT_VIEW_CHARS);
  }

  const pageAnswer = async (session: BrowserSession, result: { url: string; title: string; status?: number | null }, maxChars: number) => {
    const page = session.current;
    const lines = [`Title: ${result.title || '(none)'}`, ...(result.status ? [`Status: ${result.status}`] : [])];
    const body = await fullView(session, 'markdown', maxChars);
    return `${header(session, page, lines)}\n\n${body}`;
  };

  const navigate = defineTool({
    name: 'browser_navigate',
    title: 'Open a URL',
    description:
      'Open a URL in the browser (a real Chromium; JavaScript runs). Returns the title, URL, HTTP status and a compact markdown view of the page ' +
      'with refs like [ref=m12] on links, buttons and fields: pass a ref to browser_click, browser_type and the other actions.',
    input: z.object({ url: z.string().min(1).max(8192), max_chars: z.number().int().min(500).max(100_000).default(DEFAULT_VIEW_CHARS) }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    async handle({ url, max_chars }, context) {
      const session = await sessionOf(context);
      return pageAnswer(session, await session.navigate(url), max_chars);
    },
  });

  const history = (name: 'browser_back' | 'browser_forward' | 'browser_reload', title: string, action: (session: BrowserSession) => Promise<{ url: string; title: string; status?: number | null }>) =>
    defineTool({
      name,
      title,
      description: `${title}; returns the page like browser_navigate.`,
      input: z.object({ max_chars: z.number().int().min(500).max(100_000).default(DEFAULT_VIEW_CHARS) }),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      async handle({ max_chars }, context) {
        const session = await sessionOf(context);
        return pageAnswer(session, await action(session), max_chars);
      },
    });

  const snapshot = defineTool({
    name: 'browser_snapshot',
    title: 'View the page',
    description:
      'The current page as a compact view: "markdown" (readable content with [ref=mN] on links, buttons and fields; default) or "aria" ' +
      '(the accessibility tree with [ref=eN]). Long pages come in parts: pass the cursor to continue.',
    input: z.object({
      mode: z.enum(['markdown', 'aria']).default('markdown'),
      max_chars: z.number().int().min(500).max(200_000).default(20_000),
      cursor: z.string().optional(),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle({ mode, max_chars, cursor }, context) {
      const session = await sessionOf(context);
      const page = await openPage(session);
      const title = await session.read(page, () => page.title());
      const body = await fullView(session, mode, max_chars, cursor);
      return `${header(session, page, [`Title: ${title}`])}\n\n${body}`;
    },
  });

  /** An action on an element: done (within the action time limit, plus `extraMs`), then answered with what changed. */
  const action = <I extends z.ZodRawShape>(
    name: string,
    title: string,
    description: string,
    input: I,
    run: (page: Page, args: z.infer<z.ZodObject<I>>) => Promise<string | void>,
    extraMs: (args: z.infer<z.ZodObject<I>>) => number = () => 0,
  ) =>
    defineTool({
      name,
      title,
      description: `${description} Returns what changed on the page since the last view (full: true for the whole view).`,
      input: z.object({ ...input, full: fullField }),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      async handle(args, context) {
        const session = await sessionOf(context);
        const page = await openPage(session);
        const input = args as z.infer<z.ZodObject<I>>;
        const done = (await session.read(page, () => run(page, input), { limitMs: session.actionLimitMs(extraMs(input)), retry: false })) ?? `${title}: done.`;
        await page.waitForLoadState('domcontentloaded', { timeout: 5000 }).catch(() => undefined);
        const body = await changes(session, (args as { full: boolean }).full);
        return `${done}\n${header(session, session.current)}\n\n${body}`;
      },
    });

  const click = action('browser_click', 'Click', 'Click an element by its ref.', { ref: refField }, async (page, { ref }) => {
    const target = await resolveRef(page, ref);
    // A click may open a tab or start a download a moment later: give those events time to land.
    const popup = page.context().waitForEvent('page', { timeout: 700 }).catch(() => undefined);
    const download = page.waitForEvent('download', { timeout: 700 }).catch(() => undefined);
    await target.click();
    await Promise.race([Promise.all([popup, download]), new Promise((resolve) => setTimeout(resolve, 700))]);
    return `Clicked ${ref}.`;
  });

  const type = action(
    'browser_type',
    'Type',
    'Type text into a field by its ref (replacing what it holds); submit presses Enter after.',
    { ref: refField, text: z.string().max(100_000), submit: z.boolean().default(false) },
    async (page, { ref, text, submit }) => {
      const field = await resolveRef(page, ref);
      await field.fill(text);
      if (submit) await field.press('Enter');
      return `Typed into ${ref}${submit ? ' and pressed Enter' : ''}.`;
    },
  );

  const select = action('browser_select', 'Select', 'Choose options in a select element by its ref.', { ref: refField, values: z.array(z.string()).min(1) }, async (page, { ref, values }) => {
    const chosen = await (await resolveRef(page, ref)).selectOption(values);
    return `Selected ${chosen.join(', ')} in ${ref}.`;
  });

  const press = action('browser_press', 'Press a key', 'Press a key or a combination, e.g. Enter, Escape, ArrowDown, Control+A.', { key: z.string().min(1).max(50) }, async (page, { key }) => {
    await page.keyboard.press(key);
    return `Pressed ${key}.`;
  });

  const hover = action('browser_hover', 'Hover', 'Move the mouse over an element by its ref.', { ref: refField }, async (page, { ref }) => {
    await (await resolveRef(page, ref)).hover();
    return `Hovering over ${ref}.`;
  });

  const scroll = action(
    'browser_scroll',
    'Scroll',
    'Scroll an element into view by its ref, or the page up or down by a screen.',
    { ref: refField.optional(), direction: z.enum(['up', 'down']).optional() },
    async (page, { ref, direction }) => {
      if (ref) {
        await (await resolveRef(page, ref)).scrollIntoViewIfNeeded();
        return `Scrolled ${ref} into view.`;
      }
      if (!direction) throw new FathomError('invalid_argument', 'Give a ref or a direction', { hint: 'e.g. {"direction": "down"}' });
      await page.mouse.wheel(0, direction === 'down' ? 700 : -700);
      return `Scrolled ${direction}.`;
    },
  );

  const waitFor = action(
    'browser_wait_for',
    'Wait',
    'Wait until some text appears, until some text is gone, or for a number of seconds (at most 30). With text or gone, time_s is the ' +
      `longest wait (default ${config.actionTimeoutSeconds} s). Answers with the time it waited.`,
    { text: z.string().min(1).optional(), gone: z.string().min(1).optional(), time_s: z.number().min(0).max(30).optional() },
    async (page, { text, gone, time_s }) => {
      if (!text && !gone && time_s === undefined) throw new FathomError('invalid_argument', 'Give text, gone or time_s', { hint: 'e.g. {"text": "Results"}' });
      const started = performance.now();
      const waited = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
      if (!text && !gone) {
        await page.waitForTimeout((time_s ?? 0) * 1000);
        return `Waited ${waited()}.`;
      }
      // Playwright reads a timeout of 0 as none at all.
      const deadline = started + Math.max(1, (time_s ?? config.actionTimeoutSeconds) * 1000);
      const left = () => Math.max(1, deadline - performance.now());
      const until = async (what: string, state: 'visible' | 'hidden', failed: string) => {
        try {
          await page.getByText(what).first().waitFor({ state, timeout: left() });
        } catch (error) {
          if (!isPlaywrightTimeout(error)) throw error;
          throw new FathomError('timeout', `Waited ${waited()} and "${what}" ${failed}.`, {
            hint: 'Take a snapshot to see the page as it is, or wait longer (time_s, at most 30).',
          });
        }
      };
      if (text) await until(text, 'visible', 'did not appear');
      if (gone) await until(gone, 'hidden', 'did not go away');
      const done = text && gone ? `"${text}" appeared and "${gone}" is gone` : text ? `"${text}" appeared` : `"${gone}" is gone`;
      return `${done} after ${waited()}.`;
    },
    ({ time_s }) => (time_s ?? 0) * 1000,
  );

  const find = defineTool({
    name: 'browser_find',
    title: 'Find on the page',
    description:
      'Find text (or a regex) on the page: each match with the text of the element it is in (a paragraph, list item, table row; ' +
      'cut to about 300 characters around the match) and the ref of the element that holds it: the link, button or field, ' +
      'else the plain element, marked "plain text".',
    input: z.object({ query: z.string().min(1).max(500), regex: z.boolean().default(false) }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle({ query, regex }, context) {
      const session = await sessionOf(context);
      const page = await openPage(session);
      const { matches, total } = await findInPage(page, query, { regex, limit: 20, matcher: manager.matcher }, (script) => session.read(page, () => page.evaluate(script)));
      if (!total) return `No match for ${regex ? '/' + query + '/' : `"${query}"`} on ${session.current.url()}.`;
      const mark = (match: FindMatch) => (match.actionable ? ` [ref=${match.ref}]` : match.ref ? ` [ref=${match.ref}, plain text]` : ' [plain text]');
      const shown = matches.map((match, index) => `${index + 1}. ${match.text}${mark(match)}`).join('\n');
      const note = matches.some((match) => !match.actionable)
        ? '\n[note] "plain text": no link, button or field holds that text. Its ref still works with browser_scroll, browser_hover, ' +
          'browser_screenshot and browser_click (a click does something only where the page handles it); the links and fields are in browser_snapshot.'
        : '';
      return `${total} match${total === 1 ? '' : 'es'}${matches.length < total ? ` (first ${matches.length})` : ''}:\n${shown}${note}`;
    },
  });

  const screenshot = defineTool({
    name: 'browser_screenshot',
    title: 'Screenshot',
    description: 'A PNG screenshot of the page (the viewport, the full page, or one element by its ref).',
    input: z.object({ ref: refField.optional(), full_page: z.boolean().default(false) }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle({ ref, full_page }, context) {
      const session = await sessionOf(context);
      // A blank tab still gives an image (a host may only want to see that the browser runs); its caption says no page is open.
      const page = ref ? await openPage(session) : await session.page();
      const image = await session.read(
        page,
        async () => (ref ? (await resolveRef(page, ref)).screenshot({ type: 'png' }) : page.screenshot({ type: 'png', fullPage: full_page })),
        { limitMs: session.actionLimitMs() },
      );
      if (image.length > config.maxScreenshotBytes) {
        throw new FathomError('too_large', `The screenshot is ${image.length} bytes, over the ${config.maxScreenshotBytes}-byte limit`, {
          hint: 'Take the viewport only, or one element by its ref.',
        });
      }
      const content: ContentBlock[] = [
        { type: 'image', data: image.toString('base64'), mimeType: 'image/png' },
        {
          type: 'text',
          text: isBlankPage(page) ? `Screenshot of a blank tab. ${NO_PAGE}` : `Screenshot of ${page.url()}${ref ? ` (${ref})` : full_page ? ' (full page)' : ''}`,
        },
      ];
      return { content };
    },
  });

  const tabs = defineTool({
    name: 'browser_tabs',
    title: 'Tabs',
    description: 'List, open, select or close tabs.',
    input: z.object({ action: z.enum(['list', 'new', 'select', 'close']), index: z.number().int().min(0).optional(), url: z.string().optional() }),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    async handle({ action: what, index, url }, context) {
      const session = await sessionOf(context);
      if (what === 'new') await session.newTab(url);
      if (what === 'select' || what === 'close') {
        if (index === undefined) throw new FathomError('invalid_argument', `Give the index of the tab to ${what}`, { hint: 'List the tabs first.' });
        if (what === 'select') session.selectTab(index);
        else await session.closeTab(index);
      }
      const list = await Promise.all(
        session.tabs.map(async (page, position) => `${position}. ${page === session.current ? '(current) ' : ''}${(await session.titleOf(page)) || '(untitled)'} — ${page.url()}`),
      );
      return `${header(session, session.current)}\n\nTabs:\n${list.join('\n')}`;
    },
  });

  const downloads = defineTool({
    name: 'browser_downloads',
    title: 'Downloads',
    description: "Files downloaded in this session, saved under the server's output folder where the files server can read them.",
    input: z.object({}),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle(_args, context) {
      const session = await sessionOf(context);
      const listed = session.downloads.length
        ? session.downloads.map((file) => `${file.name} (${file.bytes} bytes) from ${file.url}\n  saved at ${file.path}`)
        : ['No downloads in this session yet.'];
      const notes = session.takeEvents().map((event) => `[event] ${event}`);
      if (session.downloadLimitReached) {
        notes.push(`[note] This session started its limit of ${config.maxDownloads} downloads (FATHOM_MAX_DOWNLOADS): further downloads are cancelled.`);
      }
      return [...listed, ...notes].join('\n');
    },
  });

  const evaluate = defineTool({
    name: 'browser_evaluate',
    title: 'Run JavaScript',
    description: 'Evaluate a JavaScript expression in the page and return its value as JSON.',
    input: z.object({ expression: z.string().min(1).max(100_000) }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    async handle({ expression }, context) {
      const session = await sessionOf(context);
      const page = await openPage(session);
      const value: unknown = await session.read(page, () => page.evaluate(expression), { retry: false });
      return budgeted(JSON.stringify(value, null, 2) ?? 'undefined', 20_000);
    },
  });

  const list = [
    navigate,
    history('browser_back', 'Go back', (session) => session.back()),
    history('browser_forward', 'Go forward', (session) => session.forward()),
    history('browser_reload', 'Reload', (session) => session.reload()),
    snapshot,
    click,
    type,
    select,
    press,
    hover,
    scroll,
    waitFor,
    find,
    screenshot,
    tabs,
    downloads,
  ];
  if (config.enableEvaluate) list.push(evaluate);
  return list;
}
