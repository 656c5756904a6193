import type { AddressGuard } from '@fathom/core';
import { FathomError, errorMessage, isFathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { BrowserContext, Dialog, Frame, Page, Response } from 'playwright-core';
import type { Config } from './config.js';
import { SessionDownloads } from './downloads.js';
import type { DownloadWatcher, SavedDownload } from './downloads.js';
import { blockResourceTypes, watchNavigations } from './egress.js';
import type { EgressGuard, RefusedNavigation } from './egress.js';
import type { Owner } from './launch.js';
import { netError } from './net-errors.js';
import type { MarkdownMemo } from './snapshot.js';

const LOAD_WAIT_MS = 2000;
/** How long a page may take to answer a trivial evaluation before it counts as not responding. */
const PROBE_MS = 3000;
/** Grace beyond Playwright's own action timeout, so that its clearer error comes first. */
const ACTION_GRACE_MS = 5000;
const READ_ATTEMPTS = 3;
const MAX_EVENTS = 50;
/** Playwright's errors for a page that navigated while it was being read. */
const NAVIGATED = /Execution context was destroyed|Cannot find context with specified id|Frame was detached/i;
/** Where Chromium puts a tab whose navigation failed: its own error page, a moment after Playwright reports the failure. */
const ERROR_PAGE = 'chrome-error://chromewebdata/';
/** A tab showing nothing of its own: a new tab, or Chromium's page for a navigation that failed. */
export const isBlankPage = (page: Page) => page.url() === 'about:blank' || page.url() === ERROR_PAGE;

export interface NavigationResult {
  url: string;
  title: string;
  status: number | null;
}

const quote = (text: string, max = 300) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);

class TimeLimitExceeded extends Error {}

/** `work`, or a TimeLimitExceeded after `ms`; the work itself goes on (a stuck page never settles it). */
function withTimeLimit<T>(work: Promise<T>, ms: number): Promise<T> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new TimeLimitExceeded(`No answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/**
 * Watches `page` for Chromium's error page: `shown()` resolves once it has been committed since the
 * watch began, or a short wait after the call if it has not; `stop()` ends the watch.
 */
function errorPageOf(page: Page): { shown(): Promise<void>; stop(): void } {
  let committed = false;
  let notify: (() => void) | undefined;
  const onNavigated = (frame: Frame) => {
    if (frame !== page.mainFrame() || frame.url() !== ERROR_PAGE) return;
    committed = true;
    notify?.();
  };
  page.on('framenavigated', onNavigated);
  return {
    shown: () =>
      committed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, LOAD_WAIT_MS);
            notify = () => {
              clearTimeout(timer);
              resolve();
            };
          }),
    stop: () => page.off('framenavigated', onNavigated),
  };
}

const parseUrl = (text: string) => {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
};

export const isPlaywrightTimeout = (error: unknown) => error instanceof Error && error.name === 'TimeoutError';

interface SessionOptions {
  id: string;
  /** What the session's downloads folder is called. */
  name: string;
  context: BrowserContext;
  config: Config;
  logger: Logger;
  watcher: DownloadWatcher;
  /** Who owns the files the browser writes (undefined: the server's own uid). */
  owner: Owner | undefined;
  /** Set when downloads are off: why, said in the event of each download a page starts. */
  downloadsOff?: string | undefined;
  /** Why the guard proxy could not connect for a URL, since a time (see GuardProxy.failure). */
  proxyFailure: (url: string, since: number) => Error | undefined;
  /** What the time since last use is measured on. */
  clock: () => number;
  /** Why this session starts afresh (its browser restarted), said once in the next answer. */
  lost?: string | undefined;
}

export type ViewMode = 'markdown' | 'aria';

/** A tab's page as the agent last saw it. */
export interface PageView {
  mode: ViewMode;
  text: string;
}

/** One MCP session's isolated browser: its own cookies, storage, tabs and downloads. */
export class BrowserSession {
  readonly id: string;
  readonly name: string;
  readonly context: BrowserContext;
  private readonly pages: Page[] = [];
  private index = 0;
  private readonly notes: string[];
  private used: number;
  private ended = false;
  private egress: EgressGuard | undefined;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly proxyFailure: SessionOptions['proxyFailure'];
  private readonly saved: SessionDownloads;
  private readonly events: string[] = [];
  /** What the agent last saw of each tab, to answer an action with what changed. */
  private readonly views = new WeakMap<Page, PageView>();
  private readonly memos = new WeakMap<Page, MarkdownMemo>();
  /** The URL each tab's last failed navigation request went to (a redirect's last hop). */
  private readonly failedNavigations = new WeakMap<Page, string>();
  private readonly crashed = new WeakSet<Page>();
  /** Pages whose scripts kept the browser busy past a time limit. */
  private readonly unresponsive = new WeakSet<Page>();
  /** Where each tab's page tried to go and was refused, not yet reported. */
  private readonly refusals = new Map<Page, RefusedNavigation>();
  /** The tabs' pages, each with its resource blocking being set up. */
  private readonly attached = new WeakMap<Page, Promise<void>>();
  private creatingPages = 0;

  private constructor(options: SessionOptions) {
    this.id = options.id;
    this.name = options.name;
    this.context = options.context;
    this.config = options.config;
    this.logger = options.logger;
    this.clock = options.clock;
    this.used = options.clock();
    this.proxyFailure = options.proxyFailure;
    this.notes = options.lost ? [options.lost] : [];
    this.saved = new SessionDownloads({
      config: options.config,
      watcher: options.watcher,
      owner: options.owner,
      off: options.downloadsOff,
      folder: options.name,
      record: (event) => this.record(event),
    });
  }

  static async open(options: SessionOptions & { guard: AddressGuard }): Promise<BrowserSession> {
    const session = new BrowserSession(options);
    const { context, config } = options;
    context.setDefaultTimeout(config.actionTimeoutSeconds * 1000);
    context.setDefaultNavigationTimeout(config.navigationTimeoutSeconds * 1000);
    session.egress = watchNavigations(context, {
      guard: options.guard,
      logger: options.logger,
      onRefused: (refused) => session.onRefused(refused),
    });
    context.on('page', (page) => session.adopt(page));
    await session.newTab();
    return session;
  }

  /** The open tabs, in order. */
  get tabs(): readonly Page[] {
    return this.pages;
  }

  get currentIndex(): number {
    return this.index;
  }

  get current(): Page {
    const page = this.pages[this.index];
    if (!page) throw new FathomError('internal', 'This session has no open tab');
    return page;
  }

  /** The current tab, opening a blank one if every tab was closed. */
  async page(): Promise<Page> {
    this.touch();
    if (this.pages.length === 0) await this.newTab();
    return this.current;
  }

  touch(): void {
    this.used = this.clock();
  }

  /** When a tool last used this session. */
  get lastUsed(): number {
    return this.used;
  }

  /** Whether the session is closed, or its browser went away. */
  get closed(): boolean {
    return this.ended;
  }

  /** The browser process under this session ended: its context, tabs and downloads in progress are gone. */
  browserGone(): void {
    this.ended = true;
  }

  /** Events since the last call: dialogs dismissed, popups, downloads, crashes. */
  takeEvents(): string[] {
    const refused = this.saved.takeRefused();
    if (refused) this.record(refused);
    return this.events.splice(0);
  }

  /** What the agent should know about the session itself (that its browser restarted and its state is lost), once. */
  takeNotes(): string[] {
    return this.notes.splice(0);
  }

  /** The files this session downloaded and kept. */
  get downloads(): readonly SavedDownload[] {
    return this.saved.files;
  }

  /** Whether this session may start no more downloads. */
  get downloadLimitReached(): boolean {
    return this.saved.limitReached;
  }

  /** What the agent last saw of `page`, if it has seen it. */
  lastView(page: Page): PageView | undefined {
    return this.views.get(page);
  }

  rememberView(page: Page, view: PageView): void {
    this.views.set(page, view);
  }

  /** `page`'s last markdown conversion, kept while the tab is open. */
  markdownMemo(page: Page): MarkdownMemo {
    let memo = this.memos.get(page);
    if (!memo) this.memos.set(page, (memo = {}));
    return memo;
  }

  /**
   * Whether `page` answers once any navigation it waits on is stopped (DevTools holds every request
   * to a page while its navigation is pending, so a slow server looks like a stuck page until then).
   */
  private async stopAndProbe(page: Page): Promise<boolean> {
    const stop = async () => {
      const cdp = await page.context().newCDPSession(page);
      try {
        await cdp.send('Page.stopLoading');
      } finally {
        void cdp.detach().catch(() => undefined);
      }
    };
    await withTimeLimit(stop(), PROBE_MS).catch(() => undefined);
    return this.responds(page);
  }

  /** Whether `page` answers at all: a page whose scripts spin never does. */
  private async responds(page: Page): Promise<boolean> {
    return withTimeLimit(page.evaluate('1'), PROBE_MS).then(
      () => true,
      (error: unknown) => !(error instanceof TimeLimitExceeded),
    );
  }

  /**
   * Runs `work` (which reads or acts on `page`) within a time limit. A page that navigates meanwhile
   * is waited for and read again (unless `retry` is false: work that acts runs once); one that went
   * somewhere refused, or whose scripts keep the browser busy, gets a clear error.
   */
  async read<T>(page: Page, work: () => Promise<T>, options: { limitMs?: number; retry?: boolean } = {}): Promise<T> {
    const { limitMs = this.config.actionTimeoutSeconds * 1000, retry = true } = options;
    this.touch();
    if (this.unresponsive.has(page) && !(await this.responds(page))) throw this.notResponding(page);
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await withTimeLimit(work(), limitMs);
        this.unresponsive.delete(page);
        const refused = await this.takeRefusal(page);
        if (refused) throw refused;
        return value;
      } catch (error) {
        if (isFathomError(error)) throw error;
        if (error instanceof TimeLimitExceeded || isPlaywrightTimeout(error)) {
          if (!(await this.stopAndProbe(page))) {
            this.unresponsive.add(page);
            throw this.notResponding(page);
          }
          if (error instanceof TimeLimitExceeded) {
            throw new FathomError('timeout', `The page did not answer within ${limitMs / 1000} s; a navigation it had started, if any, was stopped.`, {
              hint: 'Try again, or take a snapshot to see the page as it is.',
            });
          }
          throw error;
        }
        if (!retry || !NAVIGATED.test(errorMessage(error))) throw error;
        await page.waitForLoadState('domcontentloaded', { timeout: LOAD_WAIT_MS }).catch(() => undefined);
        const refused = await this.takeRefusal(page);
        if (refused) throw refused;
        if (attempt >= READ_ATTEMPTS) {
          throw new FathomError('upstream', `The page kept navigating while it was being read (now at ${page.url()}).`, {
            hint: 'Wait a moment (browser_wait_for with time_s) and take a snapshot again.',
            cause: error,
          });
        }
      }
    }
  }

  /** The time limit of an action on the page: Playwright's own, plus a grace so that its error comes first. */
  actionLimitMs(extraMs = 0): number {
    return this.config.actionTimeoutSeconds * 1000 + ACTION_GRACE_MS + extraMs;
  }

  /** A tab's title, or a note when its page does not answer (busy loading, or its scripts spin). */
  async titleOf(page: Page): Promise<string> {
    if (this.unresponsive.has(page)) return '(not responding)';
    return withTimeLimit(page.title(), PROBE_MS).catch(() => '(busy)');
  }

  async newTab(url?: string): Promise<NavigationResult> {
    this.touch();
    const page = await this.createPage();
    this.index = this.pages.indexOf(page);
    if (url !== undefined) return this.navigate(url);
    return { url: page.url(), title: '', status: null };
  }

  selectTab(index: number): Page {
    this.touch();
    this.checkIndex(index);
    this.index = index;
    return this.current;
  }

  async closeTab(index: number = this.index): Promise<void> {
    this.touch();
    this.checkIndex(index);
    const page = this.pages[index];
    if (this.pages.length === 1) await this.createPage();
    this.removeTab(page);
    await page?.close({ runBeforeUnload: false }).catch(() => undefined);
  }

  async navigate(url: string): Promise<NavigationResult> {
    this.touch();
    const refusal = await this.guard().refusal(url);
    if (refusal) throw refusal;
    const page = await this.usablePage();
    return this.load(page, url, (timeout) => page.goto(url, { waitUntil: 'domcontentloaded', timeout }));
  }

  async back(): Promise<NavigationResult> {
    const page = await this.usablePage('the previous page');
    return this.load(page, 'the previous page', (timeout) => page.goBack({ waitUntil: 'domcontentloaded', timeout }));
  }

  async forward(): Promise<NavigationResult> {
    const page = await this.usablePage('the next page');
    return this.load(page, 'the next page', (timeout) => page.goForward({ waitUntil: 'domcontentloaded', timeout }));
  }

  async reload(): Promise<NavigationResult> {
    const stuck = await this.page();
    const page = await this.usablePage();
    if (page !== stuck) return this.navigate(stuck.url());
    return this.load(page, page.url(), (timeout) => page.reload({ waitUntil: 'domcontentloaded', timeout }));
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.context.close().catch(() => undefined);
  }

  private guard(): EgressGuard {
    if (!this.egress) throw new FathomError('internal', 'The session is not ready');
    return this.egress;
  }

  private notResponding(page: Page): FathomError {
    return new FathomError('timeout', `The page is not responding: its scripts keep the browser busy (${page.url()}).`, {
      hint:
        'Open another page (browser_navigate) or a new tab (browser_tabs new); closing this tab (browser_tabs close) stops its scripts. ' +
        'Other tabs are unaffected.',
    });
  }

  /**
   * The current tab, ready to navigate. A page whose scripts keep its renderer busy cannot be
   * navigated within its site, so its tab is closed and replaced by a fresh one; `history` names
   * what a history step wanted, which the fresh tab does not have.
   */
  private async usablePage(history?: string): Promise<Page> {
    const page = await this.page();
    if (!this.unresponsive.has(page) || (await this.responds(page))) {
      this.unresponsive.delete(page);
      return page;
    }
    const index = this.pages.indexOf(page);
    const fresh = await this.replaceTab(page, `Tab ${index} was not responding (its scripts kept the browser busy), so it was closed and replaced by a new tab.`);
    if (history) {
      throw new FathomError('not_found', `Tab ${index} was not responding, so it was replaced by a new tab, which has no ${history}.`, {
        hint: 'Open a page with browser_navigate.',
      });
    }
    return fresh;
  }

  private onRefused(refused: RefusedNavigation): void {
    let page: Page;
    try {
      page = refused.frame.page();
    } catch {
      return;
    }
    if (refused.frame !== page.mainFrame() || !this.pages.includes(page)) return;
    this.refusals.set(page, refused);
  }

  /**
   * The error for the refused address `page` tried to reach, once; `target` is what the agent asked
   * for. Waits until the frame has been sent to about:blank, so that no later navigation is cut short.
   */
  private async takeRefusal(page: Page, target?: string): Promise<FathomError | undefined> {
    await this.guard().settled();
    const refused = this.refusals.get(page);
    if (!refused) return undefined;
    this.refusals.delete(page);
    // A refusal seen while waiting has its frame still on the way to about:blank.
    await this.guard().settled();
    const from = target && target !== refused.url ? target : 'The page';
    return new FathomError('blocked_address', `${from} navigated to a refused address, ${refused.url} (${refused.error.message}). The tab now shows a blank page.`, {
      hint: `Open another page with browser_navigate. ${refused.error.hint ?? ''}`.trim(),
      details: { ...refused.error.details, url: refused.url },
    });
  }

  private async load(
    page: Page,
    target: string,
    go: (timeout: number) => Promise<Response | null>,
  ): Promise<NavigationResult> {
    this.touch();
    const stale = await this.takeRefusal(page);
    if (stale) this.record(stale.message);
    this.failedNavigations.delete(page);
    const started = Date.now();
    const errorPage = errorPageOf(page);
    let response: Response | null;
    try {
      response = await go(this.config.navigationTimeoutSeconds * 1000);
    } catch (error) {
      await this.guard().settled();
      // Until Chromium shows its error page for a navigation that failed on the network, that page is
      // a navigation still to come, which would cut short the next one.
      const code = /net::(ERR_[A-Z_]+)/.exec(errorMessage(error))?.[1];
      if (code && code !== 'ERR_ABORTED') await errorPage.shown();
      const failure = await this.navigationError(page, target, error, started);
      if (failure.code === 'blocked_address') await page.goto('about:blank').catch(() => undefined);
      throw failure;
    } finally {
      errorPage.stop();
    }
    // The load event (images, scripts) is worth a short wait; network idle would cost 0.5 s on every page.
    await page.waitForLoadState('load', { timeout: LOAD_WAIT_MS }).catch(() => undefined);
    const refused = await this.takeRefusal(page, target);
    if (refused) throw refused;
    for (const landed of new Set([response?.url(), page.url()])) {
      if (!landed) continue;
      const refusal = await this.guard().refusal(landed);
      if (refusal) {
        await page.goto('about:blank').catch(() => undefined);
        throw new FathomError('blocked_address', `Refused ${target}: it led to ${landed}, and ${refusal.message}`, {
          hint: refusal.hint,
          details: refusal.details,
        });
      }
    }
    const title = await this.read(page, () => page.title());
    return { url: page.url(), title, status: response?.status() ?? null };
  }

  private async navigationError(page: Page, target: string, error: unknown, started: number): Promise<FathomError> {
    if (isFathomError(error)) return error;
    const message = errorMessage(error);
    if (this.crashed.has(page) || /crash/i.test(message)) {
      return new FathomError('upstream', `The page crashed while loading ${target}; its tab was replaced by a blank one.`, {
        hint: 'Try again, or try a lighter page; other tabs are unaffected.',
        cause: error,
      });
    }
    const refused = await this.takeRefusal(page, target);
    if (refused) return refused;
    if (/Timeout .*exceeded/i.test(message)) {
      if (!(await this.stopAndProbe(page))) {
        this.unresponsive.add(page);
        return this.notResponding(page);
      }
      return new FathomError('timeout', `${target} did not finish loading within ${this.config.navigationTimeoutSeconds} s.`, {
        hint: 'The page may be slow or stuck; loading was stopped and the tab shows what loaded so far. Try again or try another page.',
        cause: error,
      });
    }
    const code = /net::(ERR_[A-Z_]+)/.exec(message)?.[1];
    const failed = parseUrl(this.failedNavigations.get(page) ?? target);
    if (code && code !== 'ERR_ABORTED' && failed) return netError(code, failed, this.proxyFailure(failed.href, started), error);
    if (code) {
      return new FathomError('network', `Could not load ${target}: ${code}`, { hint: 'Check the URL or try again later.', cause: error });
    }
    if (/Download is starting/i.test(message)) {
      const off = this.saved.off;
      if (off) return new FathomError('invalid_argument', `${target} is a download, not a page; it was not saved: ${off}.`, { cause: error });
      return new FathomError('invalid_argument', `${target} is a download, not a page; it is being saved (see the session's downloads).`, {
        cause: error,
      });
    }
    return new FathomError('upstream', `Could not load ${target}: ${message.split('\n')[0]}`, { cause: error });
  }

  private async createPage(): Promise<Page> {
    this.creatingPages++;
    try {
      const page = await this.context.newPage();
      await this.attach(page);
      return page;
    } finally {
      this.creatingPages--;
    }
  }

  private adopt(page: Page): void {
    if (this.pages.includes(page)) return;
    void this.attach(page);
    if (this.creatingPages > 0) return;
    this.index = this.pages.indexOf(page);
    this.record(`A popup opened as tab ${this.index}, which is now the current tab.`);
  }

  /** Makes `page` a tab of this session; resolves once its resource blocking is in place. */
  private attach(page: Page): Promise<void> {
    const attached = this.attached.get(page);
    if (attached) return attached;
    this.pages.push(page);
    page.on('dialog', (dialog) => this.onDialog(dialog));
    page.on('download', (download) => void this.saved.save(download));
    page.on('crash', () => void this.replaceCrashed(page));
    page.on('requestfailed', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) this.failedNavigations.set(page, request.url());
    });
    page.on('close', () => {
      this.removeTab(page);
      this.refusals.delete(page);
      if (this.pages.length === 0 && !this.ended) this.createPage().catch(() => undefined);
    });
    const blocking = blockResourceTypes(page, this.config.blockResources).catch((error: unknown) =>
      this.logger.debug('could not block resource types in a page', { error: errorMessage(error) }),
    );
    this.attached.set(page, blocking);
    return blocking;
  }

  private removeTab(page: Page | undefined): void {
    const index = page ? this.pages.indexOf(page) : -1;
    if (index < 0) return;
    this.pages.splice(index, 1);
    if (this.index > index || this.index >= this.pages.length) this.index = Math.max(0, this.index - 1);
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pages.length) {
      throw new FathomError('invalid_argument', `There is no tab ${index}; open tabs are 0 to ${this.pages.length - 1}.`, {
        hint: 'List the tabs to see their numbers.',
      });
    }
  }

  private record(event: string): void {
    this.events.push(event);
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
  }

  private onDialog(dialog: Dialog): void {
    const type = dialog.type();
    if (type === 'beforeunload') {
      void dialog.accept().catch(() => undefined);
      this.record('Accepted a "leave this page?" prompt.');
      return;
    }
    void dialog.dismiss().catch(() => undefined);
    const article = type === 'alert' ? 'an' : 'a';
    this.record(`Dismissed ${article} ${type}: ${quote(dialog.message())}`);
  }

  /** Puts a fresh tab where `page` was (same index), then closes `page`. */
  private async replaceTab(page: Page, event: string): Promise<Page> {
    const fresh = await this.createPage();
    this.pages.splice(this.pages.indexOf(fresh), 1);
    const at = this.pages.indexOf(page);
    if (at >= 0) this.pages[at] = fresh;
    else this.pages.push(fresh);
    this.refusals.delete(page);
    this.record(event);
    await page.close({ runBeforeUnload: false }).catch(() => undefined);
    return fresh;
  }

  private async replaceCrashed(page: Page): Promise<void> {
    this.crashed.add(page);
    const index = this.pages.indexOf(page);
    if (index < 0 || this.ended) return;
    this.logger.warn('browser page crashed', { session: this.id, url: page.url() });
    await this.replaceTab(page, `Tab ${index} crashed (${page.url()}) and was replaced by a blank tab.`).catch((error: unknown) => {
      this.removeTab(page);
      this.logger.warn('could not replace a crashed page', { error });
    });
  }
}
