import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { blockedAddressError, FathomError } from '@fathom/core';
import type { AddressGuard, Logger } from '@fathom/core';
import type { BrowserContext, Frame, Page, Request } from 'playwright-core';
import { notResolved } from './net-errors.js';

const LOOKUP_TTL_MS = 30_000;
const UNCHECKED_SCHEMES = new Set(['data:', 'blob:', 'about:']);
const RESOURCE_TYPES = { image: 'Image', font: 'Font', media: 'Media', stylesheet: 'Stylesheet' } as const;
export type BlockableResource = keyof typeof RESOURCE_TYPES;

/** A navigation the policy refused: the browser's proxy did not let it through. */
export interface RefusedNavigation {
  url: string;
  frame: Frame;
  error: FathomError;
}

export interface EgressOptions {
  guard: AddressGuard;
  logger: Logger;
  onRefused?: (refused: RefusedNavigation) => void;
}

export interface EgressGuard {
  /** Undefined when `url` may be loaded, else the error to report. */
  refusal(url: string): Promise<FathomError | undefined>;
  /** Resolves once frames sent somewhere refused have been sent to about:blank. */
  settled(): Promise<void>;
}

const display = (url: string) => (url.length > 200 ? `${url.slice(0, 200)}…` : url);

/** Decides whether the browser may load a URL: the same rules as every other outbound request. */
export class EgressPolicy {
  private readonly lookups = new Map<string, { at: number; addresses: Promise<string[]> }>();

  constructor(private readonly guard: AddressGuard) {}

  async refusal(raw: string): Promise<FathomError | undefined> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return new FathomError('invalid_argument', `Not a valid URL: ${display(raw)}`, { hint: 'Give an absolute http:// or https:// URL.' });
    }
    if (UNCHECKED_SCHEMES.has(url.protocol)) return undefined;
    const shown = display(raw);
    try {
      this.guard.checkUrl(url, shown);
    } catch (error) {
      if (error instanceof FathomError) return error;
      throw error;
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) || this.guard.allowsHostname(host)) return undefined;
    let addresses: string[];
    try {
      addresses = await this.resolve(host);
    } catch (cause) {
      return notResolved(url, cause);
    }
    const refused = addresses.find((address) => !this.guard.allowsAddress(address));
    return refused === undefined ? undefined : blockedAddressError(shown, { host, address: refused, viaDns: true });
  }

  private resolve(host: string): Promise<string[]> {
    const now = Date.now();
    const cached = this.lookups.get(host);
    if (cached && now - cached.at < LOOKUP_TTL_MS) return cached.addresses;
    for (const [key, entry] of this.lookups) if (now - entry.at >= LOOKUP_TTL_MS) this.lookups.delete(key);
    const addresses = lookup(host, { all: true }).then((entries) => entries.map((entry) => entry.address));
    addresses.catch(() => this.lookups.delete(host));
    this.lookups.set(host, { at: now, addresses });
    return addresses;
  }
}

const LEAVE_ATTEMPTS = 3;
const COMMIT_WAIT_MS = 2000;

/**
 * Resolves once the navigation `request` has committed a document in its frame (the proxy's
 * refusal page) or failed, or after a short wait. Subscribed to when the request is seen, so a
 * quick answer is not missed.
 */
function navigationDone(request: Request): Promise<void> {
  let frame: Frame;
  let page: Page;
  try {
    frame = request.frame();
    page = frame.page();
  } catch {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      page.off('framenavigated', onNavigated);
      page.off('requestfailed', onFailed);
      resolve();
    };
    const onNavigated = (navigated: Frame) => {
      if (navigated === frame) finish();
    };
    const onFailed = (failed: Request) => {
      if (failed === request) finish();
    };
    const timer = setTimeout(finish, COMMIT_WAIT_MS);
    page.on('framenavigated', onNavigated);
    page.on('requestfailed', onFailed);
  });
}

/**
 * Sends `frame` to about:blank once the refused navigation is done. Going earlier races it:
 * Playwright then reports the blank page as interrupted while Chromium still loads it, cutting
 * short whatever the agent opens next.
 */
async function leave(frame: Frame, done: Promise<void>): Promise<void> {
  await done;
  for (let attempt = 1; ; attempt++) {
    try {
      await frame.goto('about:blank');
      return;
    } catch (error) {
      if (attempt >= LEAVE_ATTEMPTS || !/interrupted by another navigation/i.test(String(error))) throw error;
    }
  }
}

/**
 * Watches the navigations of `context`. The guard proxy every browser connection goes through is
 * what keeps pages off refused addresses; requests are not intercepted (Playwright would answer
 * CORS preflights itself, allowing every cross-origin request). What is watched here is which
 * navigation, first hop or redirect, went somewhere refused: its frame is sent to about:blank, and
 * the session tells the agent where the page tried to go.
 */
export function watchNavigations(context: BrowserContext, options: EgressOptions): EgressGuard {
  const policy = new EgressPolicy(options.guard);
  const leaving = new Set<Promise<void>>();
  context.on('request', (request: Request) => {
    if (!request.isNavigationRequest() && !request.redirectedFrom()) return;
    const done = request.isNavigationRequest() ? navigationDone(request) : Promise.resolve();
    const leaveRefusedPage = async () => {
      const error = await policy.refusal(request.url());
      // A host that does not resolve is not refused: the navigation fails, and says so itself.
      if (!error || error.code === 'network') return;
      options.logger.debug('refused browser navigation', { url: display(request.url()), reason: error.message });
      if (!request.isNavigationRequest()) return;
      const frame = request.frame();
      options.onRefused?.({ url: request.url(), frame, error });
      await leave(frame, done);
    };
    const left = leaveRefusedPage().catch(() => undefined);
    leaving.add(left);
    void left.finally(() => leaving.delete(left));
  });
  return {
    refusal: (url) => policy.refusal(url),
    settled: async () => {
      while (leaving.size > 0) await Promise.all(leaving);
    },
  };
}

/**
 * Keeps `page` from loading resources of the given types. Only those requests are paused (through
 * the page's own DevTools session), so every other request, CORS preflights included, goes to the
 * network as the browser made it.
 */
export async function blockResourceTypes(page: Page, types: readonly BlockableResource[]): Promise<void> {
  if (types.length === 0) return;
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Fetch.requestPaused', (event) => {
    cdp.send('Fetch.failRequest', { requestId: event.requestId, errorReason: 'BlockedByClient' }).catch(() => undefined);
  });
  await cdp.send('Fetch.enable', { patterns: types.map((type) => ({ resourceType: RESOURCE_TYPES[type], requestStage: 'Request' as const })) });
}
