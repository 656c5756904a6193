import { existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { WorkerPool } from '@fathom/files/pool';
import { AddressGuard, FathomError, errorMessage, findChromium, isFathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Dialog, Download, Frame, Page, Response } from 'playwright-core';
import type { Config } from './config.js';
import { copyOut, DownloadWatcher, safeFileName } from './downloads.js';
import { blockResourceTypes, watchNavigations } from './egress.js';
import type { EgressGuard, RefusedNavigation } from './egress.js';
import { launchHint, prepareLaunch } from './launch.js';
import { netError } from './net-errors.js';
import type { BrowserLaunch, Owner } from './launch.js';
import { startGuardProxy } from './proxy.js';
import type { GuardProxy } from './proxy.js';

/**
 * Features Playwright turns off, and ours. Chromium reads only the last --disable-features, and
 * ours comes after Playwright's, so it must carry Playwright's too (a test checks that it does).
 */
const DISABLED_FEATURES = [
  // Playwright's (playwright-core's chromiumSwitches), network time, optimization hints and search preconnects among them.
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
  'msForceBrowserSignIn',
  'msEdgeUpdateLaunchServicesPreferredVersion',
  // Ours: a form would send its fields' signatures to content-autofill.googleapis.com; no translation service.
  'AutofillServerCommunication',
  'Translate',
];

/**
 * The browser sends nothing a page did not ask for: these stop Chromium's own services from calling
 * home. What they do not stop (the component updater's on-demand updates, sign-in's ListAccounts,
 * the captive portal check) is refused by the proxies (proxy.ts).
 */
const CHROMIUM_ARGS = [
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--disable-sync',
  '--no-pings',
  '--no-first-run',
  '--disable-quic',
  `--disable-features=${DISABLED_FEATURES.join(',')}`,
  // WebRTC may use only proxied connections (TURN over TCP through the guard proxy): no STUN or UDP.
  // (--force-webrtc-ip-handling-policy, the spelling often quoted, leaves STUN on in this Chromium.)
  '--webrtc-ip-handling-policy=disable_non_proxied_udp',
];
const LOAD_WAIT_MS = 2000;
/** How long a page may take to answer a trivial evaluation before it counts as not responding. */
const PROBE_MS = 3000;
/** Grace beyond Playwright's own action timeout, so that its clearer error comes first. */
const ACTION_GRACE_MS = 5000;
const READ_ATTEMPTS = 3;
const MAX_EVENTS = 50;
const MB = 1024 * 1024;
/** Playwright's errors for a page that navigated while it was being read. */
const NAVIGATED = /Execution context was destroyed|Cannot find context with specified id|Frame was detached/i;
/** Where Chromium puts a tab whose navigation failed: its own error page, a moment after Playwright reports the failure. */
const ERROR_PAGE = 'chrome-error://chromewebdata/';
/** A tab showing nothing of its own: a new tab, or Chromium's page for a navigation that failed. */
export const isBlankPage = (page: Page) => page.url() === 'about:blank' || page.url() === ERROR_PAGE;
const LOST_MESSAGE =
  'The browser restarted, so the tabs, cookies and logins of this session were lost; start again from a fresh page.';

export interface NavigationResult {
  url: string;
  title: string;
  status: number | null;
}

export interface SavedDownload {
  name: string;
  path: string;
  bytes: number;
  url: string;
}

export interface BrowserManagerOptions {
  config: Config;
  logger: Logger;
  /** Overrides config.contextTtlSeconds (tests). */
  ttlMs?: number;
}

const quote = (text: string, max = 300) => JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

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
  /** Why the guard proxy could not connect for a URL, since a time (see GuardProxy.failure). */
  proxyFailure: (url: string, since: number) => Error | undefined;
  lost?: string;
}

/** One MCP session's isolated browser: its own cookies, storage, tabs and downloads. */
export class BrowserSession {
  readonly id: string;
  readonly name: string;
  readonly context: BrowserContext;
  readonly tabs: Page[] = [];
  readonly downloads: SavedDownload[] = [];
  currentIndex = 0;
  /** Set when the browser restarted under this session; the tools report it once. */
  lost: string | undefined;
  lastUsed = Date.now();
  closed = false;
  private egress: EgressGuard | undefined;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly watcher: DownloadWatcher;
  private readonly owner: Owner | undefined;
  private readonly proxyFailure: SessionOptions['proxyFailure'];
  private readonly events: string[] = [];
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
  private downloadsStarted = 0;
  private downloadBytes = 0;
  private downloadsRefused = 0;
  /** Downloads are copied out one at a time, so the session's byte budget holds. */
  private copying: Promise<void> = Promise.resolve();

  private constructor(options: SessionOptions) {
    this.id = options.id;
    this.name = options.name;
    this.context = options.context;
    this.config = options.config;
    this.logger = options.logger;
    this.watcher = options.watcher;
    this.owner = options.owner;
    this.proxyFailure = options.proxyFailure;
    this.lost = options.lost;
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

  get current(): Page {
    const page = this.tabs[this.currentIndex];
    if (!page) throw new FathomError('internal', 'This session has no open tab');
    return page;
  }

  /** The current tab, opening a blank one if every tab was closed. */
  async page(): Promise<Page> {
    this.touch();
    if (this.tabs.length === 0) await this.newTab();
    return this.current;
  }

  touch(): void {
    this.lastUsed = Date.now();
  }

  /** Events since the last call: dialogs dismissed, popups, downloads, crashes. */
  takeEvents(): string[] {
    if (this.downloadsRefused > 0) {
      this.record(
        `Cancelled ${plural(this.downloadsRefused, 'download')} the page started: this session may start at most ${this.config.maxDownloads} ` +
          '(FATHOM_MAX_DOWNLOADS). browser_downloads lists the files kept.',
      );
      this.downloadsRefused = 0;
    }
    return this.events.splice(0);
  }

  /** The lost-state notice, once. */
  takeLost(): string | undefined {
    const lost = this.lost;
    this.lost = undefined;
    return lost;
  }

  /** Whether this session may start no more downloads. */
  get downloadLimitReached(): boolean {
    return this.downloadsStarted >= this.config.maxDownloads;
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
    this.currentIndex = this.tabs.indexOf(page);
    if (url !== undefined) return this.navigate(url);
    return { url: page.url(), title: '', status: null };
  }

  selectTab(index: number): Page {
    this.touch();
    this.checkIndex(index);
    this.currentIndex = index;
    return this.current;
  }

  async closeTab(index: number = this.currentIndex): Promise<void> {
    this.touch();
    this.checkIndex(index);
    const page = this.tabs[index];
    if (this.tabs.length === 1) await this.createPage();
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
    if (this.closed) return;
    this.closed = true;
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
    const index = this.tabs.indexOf(page);
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
    if (refused.frame !== page.mainFrame() || !this.tabs.includes(page)) return;
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
    if (this.tabs.includes(page)) return;
    void this.attach(page);
    if (this.creatingPages > 0) return;
    this.currentIndex = this.tabs.indexOf(page);
    this.record(`A popup opened as tab ${this.currentIndex}, which is now the current tab.`);
  }

  /** Makes `page` a tab of this session; resolves once its resource blocking is in place. */
  private attach(page: Page): Promise<void> {
    const attached = this.attached.get(page);
    if (attached) return attached;
    this.tabs.push(page);
    page.on('dialog', (dialog) => this.onDialog(dialog));
    page.on('download', (download) => void this.saveDownload(download));
    page.on('crash', () => void this.replaceCrashed(page));
    page.on('requestfailed', (request) => {
      if (request.isNavigationRequest() && request.frame() === page.mainFrame()) this.failedNavigations.set(page, request.url());
    });
    page.on('close', () => {
      this.removeTab(page);
      this.refusals.delete(page);
      if (this.tabs.length === 0 && !this.closed) this.createPage().catch(() => undefined);
    });
    const blocking = blockResourceTypes(page, this.config.blockResources).catch((error: unknown) =>
      this.logger.debug('could not block resource types in a page', { error: errorMessage(error) }),
    );
    this.attached.set(page, blocking);
    return blocking;
  }

  private removeTab(page: Page | undefined): void {
    const index = page ? this.tabs.indexOf(page) : -1;
    if (index < 0) return;
    this.tabs.splice(index, 1);
    if (this.currentIndex > index || this.currentIndex >= this.tabs.length) this.currentIndex = Math.max(0, this.currentIndex - 1);
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.tabs.length) {
      throw new FathomError('invalid_argument', `There is no tab ${index}; open tabs are 0 to ${this.tabs.length - 1}.`, {
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
    this.tabs.splice(this.tabs.indexOf(fresh), 1);
    const at = this.tabs.indexOf(page);
    if (at >= 0) this.tabs[at] = fresh;
    else this.tabs.push(fresh);
    this.refusals.delete(page);
    this.record(event);
    await page.close({ runBeforeUnload: false }).catch(() => undefined);
    return fresh;
  }

  private async replaceCrashed(page: Page): Promise<void> {
    this.crashed.add(page);
    const index = this.tabs.indexOf(page);
    if (index < 0 || this.closed) return;
    this.logger.warn('browser page crashed', { session: this.id, url: page.url() });
    await this.replaceTab(page, `Tab ${index} crashed (${page.url()}) and was replaced by a blank tab.`).catch((error: unknown) => {
      this.removeTab(page);
      this.logger.warn('could not replace a crashed page', { error });
    });
  }

  private async saveDownload(download: Download): Promise<void> {
    const name = safeFileName(download.suggestedFilename());
    if (this.downloadLimitReached) {
      this.downloadsRefused++;
      await download.cancel().catch(() => undefined);
      await download.delete().catch(() => undefined);
      return;
    }
    this.downloadsStarted++;
    const fileLimit = this.config.maxDownloadMb * MB;
    const sessionLeft = () => Math.max(0, this.config.maxDownloadTotalMb * MB - this.downloadBytes);
    const tooLarge = (limit: number) =>
      limit < fileLimit
        ? `this session's downloads would pass ${this.config.maxDownloadTotalMb} MB (FATHOM_MAX_DOWNLOAD_TOTAL_MB)`
        : `it is larger than ${this.config.maxDownloadMb} MB`;
    const startLimit = Math.min(fileLimit, sessionLeft());
    const watch = this.watcher.watch(download, startLimit);
    try {
      const finished = download.path();
      const oversized = await Promise.race([finished.then(() => false), watch.oversized.then(() => true)]);
      if (oversized) {
        await download.cancel().catch(() => undefined);
        await download.delete().catch(() => undefined);
        this.record(`Cancelled the download of ${name}: ${tooLarge(startLimit)}.`);
        return;
      }
      const source = await finished;
      const copy = this.copying.then(async () => {
        const limit = Math.min(fileLimit, sessionLeft());
        const dir = join(this.config.outputDir, 'browser', safeFileName(this.name));
        try {
          const saved = await copyOut(source, dir, name, this.owner, limit);
          this.downloadBytes += saved.bytes;
          this.downloads.push({ name: basename(saved.path), path: saved.path, bytes: saved.bytes, url: download.url() });
          this.record(`Downloaded ${basename(saved.path)} (${saved.bytes} bytes) to ${saved.path}.`);
        } catch (error) {
          if (!isFathomError(error, 'too_large')) throw error;
          this.record(`Discarded the download of ${name}: ${tooLarge(limit)}.`);
        }
      });
      this.copying = copy.catch(() => undefined);
      await copy;
      await download.delete().catch(() => undefined);
    } catch (error) {
      const failure = await download.failure().catch(() => null);
      this.record(`The download of ${name} failed: ${failure ?? errorMessage(error)}`);
      await download.delete().catch(() => undefined);
    } finally {
      watch.done();
    }
  }
}

interface RunningBrowser {
  browser: Browser;
  watcher: DownloadWatcher;
  launch: BrowserLaunch;
  /** The guard proxy the pages' contexts use. */
  proxyUrl: string;
}

/** The one Chromium process, launched on first use and relaunched after a crash, and its sessions. */
export class BrowserManager {
  private proxy: GuardProxy | undefined;
  readonly guard: AddressGuard;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private running: Promise<RunningBrowser> | undefined;
  private live: RunningBrowser | undefined;
  private readonly sessions = new Map<string, BrowserSession>();
  private readonly opening = new Map<string, Promise<BrowserSession>>();
  /** Sessions whose browser went away, and when: the next use of one says its state was lost. */
  private readonly lostSessions = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  private closing = false;
  /** Where browser_find runs its patterns: a worker a costly one cannot wedge, replaced when stopped. */
  readonly matcher: WorkerPool;

  constructor(options: BrowserManagerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.ttlMs = options.ttlMs ?? options.config.contextTtlSeconds * 1000;
    this.guard = new AddressGuard(options.config.allowPrivateNetwork, options.config.egressAllow);
    this.sweeper = setInterval(() => void this.sweep(), Math.max(250, Math.min(30_000, this.ttlMs / 4))).unref();
    this.matcher = new WorkerPool({ size: 1, maxHeapMb: 256, logger: options.logger });
  }

  get sessionCount(): number {
    return this.sessions.size + this.opening.size;
  }

  /** The session `id`, opened on first use; `name` names its downloads folder. */
  async session(id: string, name = id): Promise<BrowserSession> {
    const existing = this.sessions.get(id);
    if (existing && !existing.closed) {
      existing.touch();
      return existing;
    }
    const pending = this.opening.get(id);
    if (pending) return pending;
    if (this.closing) throw new FathomError('unavailable', 'The browser is shutting down');
    if (this.sessionCount >= this.config.maxContexts) {
      throw new FathomError('rate_limited', `Too many browser sessions are open (${this.config.maxContexts}).`, {
        hint: 'Close a browser session or wait for idle ones to expire; an operator can raise FATHOM_MAX_CONTEXTS.',
      });
    }
    const opening = this.openSession(id, name).finally(() => this.opening.delete(id));
    this.opening.set(id, opening);
    return opening;
  }

  async closeSession(id: string): Promise<void> {
    await this.opening.get(id)?.catch(() => undefined);
    const session = this.sessions.get(id);
    this.sessions.delete(id);
    this.lostSessions.delete(id);
    await session?.close();
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    await Promise.allSettled([...this.opening.values()]);
    await Promise.allSettled([...this.sessions.values()].map((session) => session.close()));
    this.sessions.clear();
    const running = await this.running?.catch(() => undefined);
    this.running = undefined;
    if (running) await this.shutdown(running);
    await this.proxy?.close();
    this.proxy = undefined;
    await this.matcher.close();
  }

  private async openSession(id: string, name: string): Promise<BrowserSession> {
    const { browser, watcher, launch, proxyUrl } = await this.browser();
    const context = await browser.newContext({
      viewport: { width: this.config.viewportWidth, height: this.config.viewportHeight },
      acceptDownloads: true,
      serviceWorkers: 'block',
      // No bypass: loopback goes through the proxy too, where the guard decides.
      proxy: { server: proxyUrl, bypass: '<-loopback>' },
    });
    const lost = this.lostSessions.has(id) ? LOST_MESSAGE : undefined;
    try {
      const session = await BrowserSession.open({
        id,
        name,
        context,
        config: this.config,
        logger: this.logger,
        watcher,
        owner: launch.owner,
        proxyFailure: (url, since) => this.proxy?.failure(url, since),
        guard: this.guard,
        lost,
      });
      this.lostSessions.delete(id);
      this.sessions.set(id, session);
      return session;
    } catch (error) {
      await context.close().catch(() => undefined);
      throw error;
    }
  }

  private browser(): Promise<RunningBrowser> {
    this.running ??= this.launch().catch((error: unknown) => {
      this.running = undefined;
      throw error;
    });
    return this.running;
  }

  private async launch(): Promise<RunningBrowser> {
    const executablePath = this.config.chromiumPath ?? findChromium();
    if (!executablePath || !existsSync(executablePath)) {
      throw new FathomError('unavailable', `Chromium was not found${executablePath ? ` at ${executablePath}` : ''}`, {
        hint: 'Install Chromium (apt-get install chromium) or set FATHOM_CHROMIUM_PATH to its executable.',
      });
    }
    const launch = prepareLaunch(executablePath, { uid: this.config.browserUid, headless: this.config.headless });
    let browser: Browser;
    try {
      this.proxy ??= await startGuardProxy(this.guard, this.logger);
      browser = await chromium.launch({
        executablePath: launch.executablePath,
        env: launch.env,
        chromiumSandbox: this.config.browserSandbox,
        headless: this.config.headless,
        args: CHROMIUM_ARGS,
        // What the browser sends outside the pages' contexts goes to a proxy that refuses it all.
        proxy: { server: this.proxy.browserUrl, bypass: '<-loopback>' },
        downloadsPath: launch.downloadsPath,
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
      });
    } catch (error) {
      rmSync(launch.dir, { recursive: true, force: true });
      const message = errorMessage(error);
      throw new FathomError('unavailable', `Chromium did not start: ${message.split('\n')[0]}`, {
        hint: launchHint(message, this.config.browserSandbox),
        cause: error,
      });
    }
    const watcher = new DownloadWatcher(launch.downloadsPath);
    const running: RunningBrowser = { browser, watcher, launch, proxyUrl: this.proxy.url };
    this.live = running;
    browser.on('disconnected', () => this.onDisconnected(running));
    this.logger.info('browser started', {
      executablePath,
      version: browser.version(),
      sandbox: this.config.browserSandbox,
      ...(launch.owner ? { uid: launch.owner.uid } : {}),
    });
    return running;
  }

  private onDisconnected(running: RunningBrowser): void {
    if (this.live === running) {
      this.live = undefined;
      this.running = undefined;
    }
    running.watcher.close();
    rmSync(running.launch.dir, { recursive: true, force: true });
    if (this.closing) return;
    this.logger.warn('browser disconnected; it will be relaunched on next use');
    for (const [id, session] of this.sessions) {
      if (session.context.browser() !== running.browser) continue;
      session.closed = true;
      this.sessions.delete(id);
      this.lostSessions.set(id, Date.now());
    }
  }

  private async shutdown(running: RunningBrowser): Promise<void> {
    running.watcher.close();
    await running.browser.close().catch(() => undefined);
    await rm(running.launch.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  private async sweep(): Promise<void> {
    const cutoff = Date.now() - this.ttlMs;
    for (const [id, session] of this.sessions) {
      if (session.lastUsed >= cutoff) continue;
      this.logger.debug('closing idle browser session', { session: id });
      await this.closeSession(id);
    }
    for (const [id, at] of this.lostSessions) if (at < cutoff) this.lostSessions.delete(id);
  }
}
