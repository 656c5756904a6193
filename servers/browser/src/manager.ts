import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { WorkerPool } from '@fathom/files/pool';
import { AddressGuard, FathomError, errorMessage } from '@fathom/core';
import type { Logger } from '@fathom/core';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext } from 'playwright-core';
import { findChromium } from './chromium.js';
import { ContextRegistry } from './contexts.js';
import type { Config } from './config.js';
import { DownloadWatcher } from './downloads.js';
import { launchHint, prepareLaunch } from './launch.js';
import type { BrowserLaunch } from './launch.js';
import { startGuardProxy } from './proxy.js';
import type { GuardProxy } from './proxy.js';
import { BrowserSession } from './session.js';

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

/** The flag that keeps WebRTC to proxied connections; a remote browser must have been started with it too. */
export const WEBRTC_POLICY = 'webrtc-ip-handling-policy=disable_non_proxied_udp';

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
  `--${WEBRTC_POLICY}`,
];

const LOST_MESSAGE =
  'The browser restarted, so the tabs, cookies and logins of this session were lost; start again from a fresh page.';
const REMOTE_LOST_MESSAGE =
  'The remote browser disconnected and was connected to again, so the tabs, cookies and logins of this session were lost; start again from a fresh page.';

/** `endpoint` without what may be a secret in it (a token in the query, user:password), for messages and logs. */
export function shownEndpoint(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    url.search = url.search ? '?…' : '';
    return url.href;
  } catch {
    return '(not a URL)';
  }
}

/** Playwright's words for a page, context or browser gone under a call. */
const TARGET_CLOSED = /Target page, context or browser has been closed|Browser has been closed|Target closed|browser has disconnected/i;
/** How long a failed call waits for the disconnection of its browser to show. */
const DISCONNECT_WAIT_MS = 2000;

const isLoopback = (host: string) => host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1';

/** `Name: value` lines as a header object. */
export function headerObject(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * The remote browser `config.cdpEndpoint` names, reached as the server reaches it: its version,
 * or the error that says why not. The browser's own contexts and tabs are left alone.
 */
export async function probeRemoteBrowser(config: Pick<Config, 'cdpEndpoint' | 'cdpHeader'>, timeoutMs = 5000): Promise<string> {
  const browser = await chromium.connectOverCDP(config.cdpEndpoint!, { headers: headerObject(config.cdpHeader), timeout: timeoutMs });
  try {
    return browser.version();
  } finally {
    await browser.close().catch(() => undefined);
  }
}

export interface BrowserManagerOptions {
  config: Config;
  logger: Logger;
  /** Overrides config.contextTtlSeconds (tests). */
  ttlMs?: number;
  /** What idle time is measured on (tests set it; default Date.now). */
  clock?: () => number;
}

interface RunningBrowser {
  browser: Browser;
  watcher: DownloadWatcher;
  /** How the browser was launched; undefined for a remote browser (--cdp-endpoint). */
  launch: BrowserLaunch | undefined;
  /** The guard proxy the pages' contexts use. */
  proxyUrl: string;
  /** The contexts made in it and not closed yet: in a remote browser, the only ones shutting down closes. */
  contexts: Set<BrowserContext>;
}

/**
 * The one Chromium process, launched on first use and relaunched after a crash, and its sessions.
 *
 * With --cdp-endpoint the browser is someone else's (browserless and the like): it is connected to
 * over the DevTools protocol on first use and again after it disconnects, each session gets a
 * context of its own in it, and shutting down closes those contexts and disconnects, never the
 * browser. The SSRF policy holds the same way as for a launched browser: every context is made with
 * the guard proxy as its proxy and no bypass (loopback included), so the browser resolves no page's
 * host name itself; it sends CONNECT host:port or the URL to the proxy, which resolves the name with
 * the guard's own lookup and connects only to allowed addresses. The proxy then listens where the
 * remote browser can reach it (--cdp-proxy-host, --cdp-proxy-address) and requires credentials made
 * at start-up, which the server hands to each context (Playwright answers the proxy's 407 through
 * the DevTools protocol), so no one else on that network can use it. The navigation watch of
 * egress.ts runs as before. What a remote browser does outside our contexts (its own services, its
 * default profile, other DevTools clients), and WebRTC's UDP unless it was started with
 * --webrtc-ip-handling-policy=disable_non_proxied_udp, no proxy sees: the operator's network policy
 * on the browser's host must cover those (the README says how).
 */
export class BrowserManager {
  private proxy: GuardProxy | undefined;
  readonly guard: AddressGuard;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly ttlMs: number;
  private readonly clock: () => number;
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
  /** The context ids every server instance on this browser hands out, with their owners. */
  readonly contexts: ContextRegistry;
  /** The credentials the guard proxy asks of a remote browser's contexts (made once per server). */
  private readonly proxyCredentials = { username: 'fathom', password: randomBytes(24).toString('base64url') };

  constructor(options: BrowserManagerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.contexts = new ContextRegistry(options.config.replicaId);
    this.ttlMs = options.ttlMs ?? options.config.contextTtlSeconds * 1000;
    this.clock = options.clock ?? Date.now;
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
    const remote = launch === undefined;
    let context: BrowserContext;
    try {
      context = await browser.newContext({
        viewport: { width: this.config.viewportWidth, height: this.config.viewportHeight },
        // A remote browser writes downloads on its own host, out of the server's reach.
        acceptDownloads: !remote,
        serviceWorkers: 'block',
        // No bypass: loopback goes through the proxy too, where the guard decides.
        proxy: { server: proxyUrl, bypass: '<-loopback>', ...(remote ? this.proxyCredentials : {}) },
      });
    } catch (error) {
      if (!remote || browser.isConnected()) throw error;
      throw this.remoteError('disconnected', error);
    }
    const running = this.live;
    if (running?.browser === browser) {
      running.contexts.add(context);
      context.on('close', () => running.contexts.delete(context));
    }
    const lost = this.lostSessions.has(id) ? (remote ? REMOTE_LOST_MESSAGE : LOST_MESSAGE) : undefined;
    try {
      const session = await BrowserSession.open({
        id,
        name,
        context,
        config: this.config,
        logger: this.logger,
        watcher,
        owner: launch?.owner,
        downloadsOff: remote
          ? 'downloads are off with a remote browser (--cdp-endpoint), which would keep the file on its own host; fetch the file with the search server (web_fetch) instead'
          : undefined,
        proxyFailure: (url, since) => this.proxy?.failure(url, since),
        guard: this.guard,
        clock: this.clock,
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
    this.running ??= (this.config.cdpEndpoint ? this.connect(this.config.cdpEndpoint) : this.launch()).catch((error: unknown) => {
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
    const running: RunningBrowser = { browser, watcher, launch, proxyUrl: this.proxy.url, contexts: new Set() };
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

  /**
   * What a tool call that failed with `error` should say: a remote browser that went away under the
   * call (Playwright says only that the target "has been closed") is named as such, once its
   * disconnection shows, a moment later. Other failures, and a launched browser's, stay as they are.
   */
  async explainFailure(error: unknown): Promise<unknown> {
    if (!this.config.cdpEndpoint || !TARGET_CLOSED.test(errorMessage(error))) return error;
    const browser = this.live?.browser;
    if (browser?.isConnected()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, DISCONNECT_WAIT_MS);
        function done() {
          clearTimeout(timer);
          browser?.off('disconnected', done);
          resolve();
        }
        browser.once('disconnected', done);
      });
      if (browser.isConnected()) return error;
    }
    return this.remoteError('disconnected', error);
  }

  private remoteError(what: 'unreachable' | 'disconnected', cause: unknown): FathomError {
    const endpoint = shownEndpoint(this.config.cdpEndpoint ?? '');
    const message =
      what === 'unreachable'
        ? `Could not connect to the remote browser at ${endpoint}: ${errorMessage(cause).split('\n')[0]}`
        : `The remote browser at ${endpoint} disconnected`;
    return new FathomError('unavailable', message, {
      hint: 'Check that the browser at --cdp-endpoint is running and reachable, and that --cdp-header carries what it asks for; the next call connects again.',
      cause,
    });
  }

  /** Connects to the browser at `endpoint` (--cdp-endpoint), with the guard proxy where it can reach it. */
  private async connect(endpoint: string): Promise<RunningBrowser> {
    const host = this.config.cdpProxyHost;
    if (!this.config.cdpProxyAddress && /^(0\.0\.0\.0|::|\[::\])$/.test(host)) {
      throw new FathomError('invalid_config', `The guard proxy listens on every interface (--cdp-proxy-host ${host}), so the remote browser cannot be told where it is`, {
        hint: 'Set --cdp-proxy-address (FATHOM_CDP_PROXY_ADDRESS) to the host name or IP the remote browser reaches this machine at.',
      });
    }
    this.proxy ??= await startGuardProxy(this.guard, this.logger, {
      host: this.config.cdpProxyHost,
      port: this.config.cdpProxyPort,
      address: this.config.cdpProxyAddress ?? this.config.cdpProxyHost,
      credentials: this.proxyCredentials,
    });
    let browser: Browser;
    try {
      // Playwright reads an http:// endpoint's /json/version for its WebSocket URL; the headers go with both.
      browser = await chromium.connectOverCDP(endpoint, {
        headers: headerObject(this.config.cdpHeader),
        timeout: this.config.navigationTimeoutSeconds * 1000,
      });
    } catch (error) {
      throw this.remoteError('unreachable', error);
    }
    const browserHost = new URL(endpoint).hostname.replace(/^\[(.*)\]$/, '$1');
    const proxyHost = this.config.cdpProxyAddress ?? host;
    if (isLoopback(proxyHost) && !isLoopback(browserHost)) {
      this.logger.warn('the guard proxy is on loopback but the browser is not: its pages will not load unless it reaches this loopback (a tunnel)', {
        hint: 'Set --cdp-proxy-host (and --cdp-proxy-address) to an address of this machine the browser host can reach.',
      });
    }
    await this.checkRemoteFlags(browser);
    // Nothing is downloaded (acceptDownloads is off): the watcher has no folder to watch.
    const running: RunningBrowser = { browser, watcher: new DownloadWatcher(''), launch: undefined, proxyUrl: this.proxy.url, contexts: new Set() };
    this.live = running;
    browser.on('disconnected', () => this.onDisconnected(running));
    this.logger.info('connected to a remote browser', { endpoint: shownEndpoint(endpoint), version: browser.version(), proxy: this.proxy.url });
    return running;
  }

  /**
   * Warns when the remote browser lets WebRTC send UDP (STUN, TURN over UDP) around the guard proxy:
   * a launch flag decides that, which only whoever starts the browser can set. Read from its
   * chrome://version page (the DevTools protocol gives the command line only to --enable-automation).
   */
  private async checkRemoteFlags(browser: Browser): Promise<void> {
    let commandLine: string | undefined;
    const proxy = this.proxy ? { server: this.proxy.url, bypass: '<-loopback>', ...this.proxyCredentials } : undefined;
    const context = await browser.newContext(proxy ? { proxy } : {}).catch(() => undefined);
    try {
      const page = await context?.newPage();
      await page?.goto('chrome://version', { timeout: 5000 });
      commandLine = (await page?.locator('#command_line').textContent({ timeout: 2000 })) ?? undefined;
    } catch {
      // A hosted browser may not show its chrome:// pages: then it is not known.
    } finally {
      await context?.close().catch(() => undefined);
    }
    if (commandLine !== undefined && new RegExp(`--${WEBRTC_POLICY}(\\s|$)`).test(commandLine)) return;
    this.logger.warn(
      commandLine === undefined
        ? `could not read the remote browser's command line: unless it was started with --${WEBRTC_POLICY}, a page's WebRTC can send UDP around the guard proxy`
        : `the remote browser was started without --${WEBRTC_POLICY}: a page's WebRTC can send UDP around the guard proxy`,
      { hint: `Start it with --${WEBRTC_POLICY}, or block UDP from the browser's host to anything but what it must reach.` },
    );
  }

  private onDisconnected(running: RunningBrowser): void {
    if (this.live === running) {
      this.live = undefined;
      this.running = undefined;
    }
    running.watcher.close();
    if (running.launch) rmSync(running.launch.dir, { recursive: true, force: true });
    if (this.closing) return;
    this.logger.warn(running.launch ? 'browser disconnected; it will be relaunched on next use' : 'remote browser disconnected; the next use connects again');
    for (const [id, session] of this.sessions) {
      if (session.context.browser() !== running.browser) continue;
      session.browserGone();
      this.sessions.delete(id);
      this.lostSessions.set(id, this.clock());
    }
  }

  private async shutdown(running: RunningBrowser): Promise<void> {
    running.watcher.close();
    if (!running.launch) {
      // Someone else's browser: our contexts are closed (the sessions' own, and any left), then we disconnect.
      await Promise.allSettled([...running.contexts].map((context) => context.close()));
    }
    // For a connected browser Playwright only drops the connection here; a launched one is ended.
    await running.browser.close().catch(() => undefined);
    if (running.launch) await rm(running.launch.dir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Closes the sessions unused for the time to live; runs on a timer, a quarter of that time apart. */
  async sweep(): Promise<void> {
    const cutoff = this.clock() - this.ttlMs;
    for (const [id, session] of this.sessions) {
      if (session.lastUsed >= cutoff) continue;
      this.logger.debug('closing idle browser session', { session: id });
      await this.closeSession(id);
    }
    for (const [id, at] of this.lostSessions) if (at < cutoff) this.lostSessions.delete(id);
  }
}

