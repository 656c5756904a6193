import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { AddressGuard, FathomError, errorMessage, findChromium, isFathomError } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Dialog, Download, Page, Response } from 'playwright-core';
import type { Config } from './config.js';
import { installEgressGuard } from './egress.js';
import { startGuardProxy } from './proxy.js';
import type { GuardProxy } from './proxy.js';
import type { EgressGuard } from './egress.js';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-features=Translate,MediaRouter',
  '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
];
const LOAD_WAIT_MS = 2000;
const DOWNLOAD_POLL_MS = 200;
const MAX_EVENTS = 50;
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

/** A file name safe on any disk: no separators, control characters or leading dots. */
export function safeFileName(suggested: string): string {
  const cleaned = basename(suggested.replace(/\\/g, '/'))
    .replace(/[<>:"/\\|?*]/g, '_')
    .replace(/\p{Cc}/gu, '_')
    .replace(/^[.\s]+/, '')
    .trim()
    .slice(0, 200);
  return cleaned || 'download';
}

async function uniquePath(dir: string, name: string): Promise<string> {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 0; ; n++) {
    const candidate = join(dir, n === 0 ? name : `${stem} (${n})${ext}`);
    const exists = await stat(candidate).then(() => true, () => false);
    if (!exists) return candidate;
  }
}

/**
 * Watches the browser's download folder, where Chromium writes `<guid>.crdownload` while a
 * download runs, so an oversized download is cancelled as it grows rather than after it ends.
 */
class DownloadWatcher {
  private readonly claimed = new Map<string, Download>();
  private readonly active = new Set<Download>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    private readonly limitBytes: number,
    private readonly onOversize: (download: Download) => void,
  ) {}

  watch(download: Download): void {
    this.active.add(download);
    this.timer ??= setInterval(() => this.poll(), DOWNLOAD_POLL_MS).unref();
  }

  done(download: Download): void {
    this.active.delete(download);
    for (const [file, owner] of this.claimed) if (owner === download) this.claimed.delete(file);
    if (this.active.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private poll(): void {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((file) => file.endsWith('.crdownload'));
    } catch {
      return;
    }
    const owners = new Set(this.claimed.values());
    const unclaimed = [...this.active].filter((download) => !owners.has(download));
    for (const file of files) {
      if (!this.claimed.has(file)) {
        const owner = unclaimed.shift();
        if (!owner) continue;
        this.claimed.set(file, owner);
      }
      const owner = this.claimed.get(file);
      const size = (() => {
        try {
          return statSync(join(this.dir, file)).size;
        } catch {
          return 0;
        }
      })();
      if (owner && size > this.limitBytes) {
        this.done(owner);
        rmSync(join(this.dir, file), { force: true });
        this.onOversize(owner);
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

interface SessionOptions {
  id: string;
  context: BrowserContext;
  config: Config;
  logger: Logger;
  watcher: DownloadWatcher;
  lost?: string;
}

/** One MCP session's isolated browser: its own cookies, storage, tabs and downloads. */
export class BrowserSession {
  readonly id: string;
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
  private readonly events: string[] = [];
  private readonly crashed = new WeakSet<Page>();
  private readonly blockedDuringLoad: string[] = [];
  private creatingPages = 0;

  private constructor(options: SessionOptions) {
    this.id = options.id;
    this.context = options.context;
    this.config = options.config;
    this.logger = options.logger;
    this.watcher = options.watcher;
    this.lost = options.lost;
  }

  static async open(options: SessionOptions & { guard: AddressGuard }): Promise<BrowserSession> {
    const session = new BrowserSession(options);
    const { context, config } = options;
    context.setDefaultTimeout(config.actionTimeoutSeconds * 1000);
    context.setDefaultNavigationTimeout(config.navigationTimeoutSeconds * 1000);
    session.egress = await installEgressGuard(context, {
      guard: options.guard,
      blockResources: config.blockResources,
      logger: options.logger,
      onBlocked: (_url, reason) => session.blockedDuringLoad.push(reason),
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
    return this.events.splice(0);
  }

  /** The lost-state notice, once. */
  takeLost(): string | undefined {
    const lost = this.lost;
    this.lost = undefined;
    return lost;
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
    const page = await this.page();
    return this.load(page, url, (timeout) => page.goto(url, { waitUntil: 'domcontentloaded', timeout }));
  }

  async back(): Promise<NavigationResult> {
    const page = await this.page();
    return this.load(page, 'the previous page', (timeout) => page.goBack({ waitUntil: 'domcontentloaded', timeout }));
  }

  async forward(): Promise<NavigationResult> {
    const page = await this.page();
    return this.load(page, 'the next page', (timeout) => page.goForward({ waitUntil: 'domcontentloaded', timeout }));
  }

  async reload(): Promise<NavigationResult> {
    const page = await this.page();
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

  private async load(
    page: Page,
    target: string,
    go: (timeout: number) => Promise<Response | null>,
  ): Promise<NavigationResult> {
    this.touch();
    this.blockedDuringLoad.length = 0;
    let response: Response | null;
    try {
      response = await go(this.config.navigationTimeoutSeconds * 1000);
    } catch (error) {
      await this.guard().settled();
      const failure = this.navigationError(page, target, error);
      if (failure.code === 'blocked_address') await page.goto('about:blank').catch(() => undefined);
      throw failure;
    }
    // The load event (images, scripts) is worth a short wait; network idle would cost 0.5 s on every page.
    await page.waitForLoadState('load', { timeout: LOAD_WAIT_MS }).catch(() => undefined);
    await this.guard().settled();
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
    return { url: page.url(), title: await page.title().catch(() => ''), status: response?.status() ?? null };
  }

  private navigationError(page: Page, target: string, error: unknown): FathomError {
    if (isFathomError(error)) return error;
    const message = errorMessage(error);
    if (this.crashed.has(page) || /crash/i.test(message)) {
      return new FathomError('upstream', `The page crashed while loading ${target}; its tab was replaced by a blank one.`, {
        hint: 'Try again, or try a lighter page; other tabs are unaffected.',
        cause: error,
      });
    }
    if (/Timeout .*exceeded/i.test(message)) {
      return new FathomError('timeout', `${target} did not finish loading within ${this.config.navigationTimeoutSeconds} s.`, {
        hint: 'The page may be slow or stuck; the tab still shows what loaded so far. Try again or try another page.',
        cause: error,
      });
    }
    const blocked = this.blockedDuringLoad[0];
    if (blocked && /ERR_BLOCKED_BY_CLIENT|ERR_ABORTED|interrupted/i.test(message)) {
      return new FathomError('blocked_address', blocked, {
        hint: 'Fathom only loads public addresses. An operator can allow others with FATHOM_ALLOW_PRIVATE_NETWORK or FATHOM_ALLOW_HOSTS.',
        cause: error,
      });
    }
    if (/ERR_NAME_NOT_RESOLVED/.test(message)) {
      return new FathomError('network', `Could not resolve the host of ${target}.`, { hint: 'Check the URL.', cause: error });
    }
    const netError = /net::(ERR_[A-Z_]+)/.exec(message)?.[1];
    if (netError) {
      return new FathomError('network', `Could not load ${target}: ${netError}`, { hint: 'Check the URL or try again later.', cause: error });
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
      this.attach(page);
      return page;
    } finally {
      this.creatingPages--;
    }
  }

  private adopt(page: Page): void {
    if (this.tabs.includes(page)) return;
    this.attach(page);
    if (this.creatingPages > 0) return;
    this.currentIndex = this.tabs.indexOf(page);
    this.record(`A popup opened as tab ${this.currentIndex}, which is now the current tab.`);
  }

  private attach(page: Page): void {
    if (this.tabs.includes(page)) return;
    this.tabs.push(page);
    page.on('dialog', (dialog) => this.onDialog(dialog));
    page.on('download', (download) => void this.saveDownload(download));
    page.on('crash', () => void this.replaceCrashed(page));
    page.on('close', () => {
      this.removeTab(page);
      if (this.tabs.length === 0 && !this.closed) this.createPage().catch(() => undefined);
    });
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

  private async replaceCrashed(page: Page): Promise<void> {
    this.crashed.add(page);
    const index = this.tabs.indexOf(page);
    if (index < 0 || this.closed) return;
    this.logger.warn('browser page crashed', { session: this.id, url: page.url() });
    try {
      const fresh = await this.createPage();
      this.tabs.splice(this.tabs.indexOf(fresh), 1);
      const at = this.tabs.indexOf(page);
      if (at >= 0) this.tabs[at] = fresh;
      else this.tabs.push(fresh);
    } catch (error) {
      this.removeTab(page);
      this.logger.warn('could not replace a crashed page', { error });
    }
    this.record(`Tab ${index} crashed (${page.url()}) and was replaced by a blank tab.`);
    await page.close().catch(() => undefined);
  }

  private async saveDownload(download: Download): Promise<void> {
    const limitMb = this.config.maxDownloadMb;
    const name = safeFileName(download.suggestedFilename());
    let oversized = false;
    this.watcher.watch(download);
    const onOversize = new Promise<void>((resolve) => {
      this.oversizeHandlers.set(download, () => {
        oversized = true;
        resolve();
      });
    });
    try {
      const finished = download.path();
      await Promise.race([finished, onOversize]);
      if (oversized) {
        await download.cancel().catch(() => undefined);
        await download.delete().catch(() => undefined);
        this.record(`Cancelled the download of ${name}: it is larger than ${limitMb} MB.`);
        return;
      }
      const source = await finished;
      const size = (await stat(source)).size;
      if (size > limitMb * 1024 * 1024) {
        await download.delete().catch(() => undefined);
        this.record(`Discarded the download of ${name}: it is larger than ${limitMb} MB.`);
        return;
      }
      const dir = join(this.config.outputDir, 'browser', safeFileName(this.id));
      await mkdir(dir, { recursive: true });
      const target = await uniquePath(dir, name);
      await download.saveAs(target);
      await download.delete().catch(() => undefined);
      this.downloads.push({ name: basename(target), path: target, bytes: size, url: download.url() });
      this.record(`Downloaded ${basename(target)} (${size} bytes) to ${target}.`);
    } catch (error) {
      const failure = await download.failure().catch(() => null);
      this.record(`The download of ${name} failed: ${failure ?? errorMessage(error)}`);
    } finally {
      this.watcher.done(download);
      this.oversizeHandlers.delete(download);
    }
  }

  /** Called by the download watcher. */
  readonly oversizeHandlers = new Map<Download, () => void>();
}

interface RunningBrowser {
  browser: Browser;
  watcher: DownloadWatcher;
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

  constructor(options: BrowserManagerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.ttlMs = options.ttlMs ?? options.config.contextTtlSeconds * 1000;
    this.guard = new AddressGuard(options.config.allowPrivateNetwork, options.config.allowHosts);
    this.sweeper = setInterval(() => void this.sweep(), Math.max(250, Math.min(30_000, this.ttlMs / 4))).unref();
  }

  get sessionCount(): number {
    return this.sessions.size + this.opening.size;
  }

  async session(id: string): Promise<BrowserSession> {
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
    const opening = this.openSession(id).finally(() => this.opening.delete(id));
    this.opening.set(id, opening);
    return opening;
  }

  async closeSession(id: string): Promise<void> {
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
  }

  private async openSession(id: string): Promise<BrowserSession> {
    const { browser, watcher } = await this.browser();
    const context = await browser.newContext({
      viewport: { width: this.config.viewportWidth, height: this.config.viewportHeight },
      acceptDownloads: true,
      serviceWorkers: 'block',
    });
    const lost = this.lostSessions.has(id) ? LOST_MESSAGE : undefined;
    try {
      const session = await BrowserSession.open({ id, context, config: this.config, logger: this.logger, watcher, guard: this.guard, lost });
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
    if (!executablePath) {
      throw new FathomError('unavailable', 'Chromium was not found', {
        hint: 'Install Chromium (apt-get install chromium) or set FATHOM_CHROMIUM_PATH to its executable.',
      });
    }
    const downloadsPath = mkdtempSync(join(tmpdir(), 'fathom-browser-'));
    this.proxy ??= await startGuardProxy(this.guard, this.logger);
    let browser: Browser;
    try {
      browser = await chromium.launch({
        executablePath,
        headless: this.config.headless,
        args: CHROMIUM_ARGS,
        // No bypass: loopback goes through the proxy too, where the guard decides.
        proxy: { server: this.proxy.url, bypass: '<-loopback>' },
        downloadsPath,
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
      });
    } catch (error) {
      rmSync(downloadsPath, { recursive: true, force: true });
      throw new FathomError('unavailable', `Chromium did not start: ${errorMessage(error).split('\n')[0]}`, {
        hint: 'Check that Chromium runs on this machine (chromium --headless --version), or set FATHOM_CHROMIUM_PATH.',
        cause: error,
      });
    }
    const watcher = new DownloadWatcher(downloadsPath, this.config.maxDownloadMb * 1024 * 1024, (download) =>
      this.oversize(download),
    );
    const running: RunningBrowser = { browser, watcher };
    this.live = running;
    browser.on('disconnected', () => this.onDisconnected(running));
    this.logger.info('browser started', { executablePath, version: browser.version() });
    return running;
  }

  private oversize(download: Download): void {
    for (const session of this.sessions.values()) session.oversizeHandlers.get(download)?.();
  }

  private onDisconnected(running: RunningBrowser): void {
    if (this.live === running) {
      this.live = undefined;
      this.running = undefined;
    }
    running.watcher.close();
    rmSync(running.watcher.dir, { recursive: true, force: true });
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
    await rm(running.watcher.dir, { recursive: true, force: true }).catch(() => undefined);
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
