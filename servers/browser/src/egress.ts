import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { blockedAddressError, FathomError } from '@fathom/core';
import type { AddressGuard, Logger } from '@fathom/core';
import type { BrowserContext, Request, Route, WebSocketRoute } from 'playwright-core';

const LOOKUP_TTL_MS = 30_000;
const UNCHECKED_SCHEMES = new Set(['data:', 'blob:', 'about:']);

export interface EgressOptions {
  guard: AddressGuard;
  blockResources: readonly string[];
  logger: Logger;
  onBlocked?: (url: string, reason: string) => void;
}

export interface EgressGuard {
  /** `true`, or the reason the browser may not load `url`. */
  isAllowedUrl(url: string): Promise<true | string>;
  /** Undefined when `url` may be loaded, else the error to report. */
  refusal(url: string): Promise<FathomError | undefined>;
  /** Resolves once frames redirected somewhere refused have been sent to about:blank. */
  settled(): Promise<void>;
}

const display = (url: string) => (url.length > 200 ? `${url.slice(0, 200)}…` : url);

/** Decides whether the browser may load a URL: the same rules as every other outbound request. */
export class EgressPolicy {
  private readonly lookups = new Map<string, { at: number; addresses: Promise<string[]> }>();

  constructor(private readonly guard: AddressGuard) {}

  async isAllowedUrl(url: string): Promise<true | string> {
    const error = await this.refusal(url);
    return error ? error.message : true;
  }

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
      return new FathomError('network', `Could not resolve ${host}`, { hint: 'Check the host name.', cause });
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

/**
 * Routes every request and WebSocket of `context` through the address guard. Playwright does not
 * route the hops of an HTTP redirect, so those are checked as they are seen: a frame that was
 * redirected somewhere refused is sent to about:blank, and callers check a page's final URL too.
 */
export async function installEgressGuard(context: BrowserContext, options: EgressOptions): Promise<EgressGuard> {
  const policy = new EgressPolicy(options.guard);
  const blockedTypes = new Set(options.blockResources);
  const log = options.logger;
  const blocked = (url: string, reason: string) => {
    log.debug('blocked browser request', { url: display(url), reason });
    options.onBlocked?.(url, reason);
  };

  await context.route('**/*', async (route: Route) => {
    const request = route.request();
    try {
      const error = await policy.refusal(request.url());
      if (error) {
        blocked(request.url(), error.message);
        return await route.abort(error.code === 'network' ? 'namenotresolved' : 'blockedbyclient');
      }
      if (blockedTypes.has(request.resourceType())) return await route.abort('blockedbyclient');
      await route.continue();
    } catch (error) {
      log.debug('route handling failed', { url: display(request.url()), error });
    }
  });

  await context.routeWebSocket(() => true, async (socket: WebSocketRoute) => {
    const error = await policy.refusal(socket.url()).catch((cause: unknown) => new FathomError('internal', String(cause)));
    if (!error) {
      socket.connectToServer();
      return;
    }
    blocked(socket.url(), error.message);
    await socket.close({ code: 1008, reason: 'Blocked' }).catch(() => undefined);
  });

  const leaving = new Set<Promise<void>>();
  context.on('request', (request: Request) => {
    if (!request.redirectedFrom()) return;
    const leaveRefusedPage = async () => {
      const error = await policy.refusal(request.url());
      if (!error) return;
      blocked(request.url(), error.message);
      if (request.isNavigationRequest()) await request.frame().goto('about:blank');
    };
    const left = leaveRefusedPage().catch(() => undefined);
    leaving.add(left);
    void left.finally(() => leaving.delete(left));
  });

  return {
    isAllowedUrl: (url) => policy.isAllowedUrl(url),
    refusal: (url) => policy.refusal(url),
    settled: async () => {
      while (leaving.size > 0) await Promise.all(leaving);
    },
  };
}
