import { timingSafeEqual } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, isIP } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { blockedAddressError, FathomError } from '@fathom/core';
import type { AddressGuard, Logger } from '@fathom/core';

export interface GuardProxy {
  /** http://127.0.0.1:PORT (or the address given), the proxy of the pages' contexts: what the guard allows goes through. */
  url: string;
  /**
   * http://127.0.0.1:PORT, Chromium's --proxy-server: the proxy of everything the browser asks for
   * outside the pages' contexts (its own services: updates, sign-in, metrics), which it refuses.
   */
  browserUrl: string;
  /**
   * Why the last connection for `url`'s host and port failed, if it failed at `since` or later
   * (Chromium only learns that the proxy did not connect): Node's error, or the guard's refusal.
   */
  failure(url: string, since: number): Error | undefined;
  close(): Promise<void>;
}

const REMEMBERED_FAILURES = 256;

/**
 * Hosts only Chromium's own services call, never a page: connectivity (captive portal) checks,
 * component and extension updates, autofill and safe browsing servers, variations, push messaging.
 * Some of these run in a page's context, so the pages' proxy refuses them too.
 */
const BROWSER_SERVICE_HOSTS = new Set([
  'connectivitycheck.gstatic.com',
  'clients2.google.com',
  'update.googleapis.com',
  'redirector.gvt1.com',
  'content-autofill.googleapis.com',
  'safebrowsing.googleapis.com',
  'optimizationguide-pa.googleapis.com',
  'clientservices.googleapis.com',
  'android.clients.google.com',
  'mtalk.google.com',
]);

const OWN_REFUSAL = 'Blocked by Fathom: the browser sends nothing a page did not ask for.';
const serviceRefusal = (host: string) =>
  new FathomError('blocked_address', `Refused to fetch ${host}: it serves only the browser's own services, and the browser sends nothing a page did not ask for`, {
    hint: 'Fetch it with the search server (web_fetch) if you need it.',
  });

/** `host:port` of a URL the way the proxy sees its target. */
function targetOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname.replace(/^\[(.*)\]$/, '$1')}:${parsed.port || (parsed.protocol === 'https:' ? 443 : 80)}`;
  } catch {
    return undefined;
  }
}

/** Whether a literal IP host may be reached; names are checked by the guard's lookup at connect time. */
function literalAllowed(guard: AddressGuard, host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return !isIP(bare) || guard.allowsHostname(bare) || guard.allowsAddress(bare);
}

export interface GuardProxyOptions {
  /** The interface the pages' proxy listens on (default 127.0.0.1); the browser's own listener stays on loopback. */
  host?: string;
  /** Its port (default 0: a free one). */
  port?: number;
  /** The host the browser reaches it at, in `url` (default `host`). */
  address?: string;
  /**
   * Basic credentials every request to the pages' proxy must carry (Proxy-Authorization), for a
   * proxy that others on the network could reach: without them it answers 407 and connects nothing.
   */
  credentials?: { username: string; password: string };
}

/** Whether `header` (a Proxy-Authorization value) carries exactly `expected`, compared in constant time. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const given = Buffer.from(header ?? '');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const PROXY_AUTH_REQUIRED = 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="fathom"\r\nContent-Length: 0\r\n\r\n';

/**
 * A forward proxy every page connection goes through (each context is made with it and no bypass,
 * loopback included). Each connection, every redirect hop and WebSocket among them, is made here
 * with the guard's own DNS lookup, so a page can reach only what the guarded HTTP client may: no
 * redirect, rebinding or literal address gets round the rules. A second listener takes what the
 * browser sends on its own, outside any page's context, and lets none of it out.
 */
export async function startGuardProxy(guard: AddressGuard, logger: Logger, options: GuardProxyOptions = {}): Promise<GuardProxy> {
  const expected = options.credentials
    ? Buffer.from(`Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`)
    : undefined;
  const allowed = (incoming: IncomingMessage) => !expected || authorized(incoming.headers['proxy-authorization'], expected);
  const failures = new Map<string, { error: Error; at: number }>();
  /** `target` is the URL or host:port the browser asked for; `key` its host:port. */
  const failed = (key: string, error: Error) => {
    failures.delete(key);
    failures.set(key, { error, at: Date.now() });
    if (failures.size > REMEMBERED_FAILURES) failures.delete(failures.keys().next().value!);
  };
  const refuse = (target: string, key: string, error: Error) => {
    logger.info('browser connection refused', { target, error: error.message });
    failed(key, error);
  };
  const own = (target: string | undefined) => logger.debug('refused a request the browser made on its own', { target });
  const blocked = (host: string, target: string) => blockedAddressError(target, { host, address: host, viaDns: false });

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    if (!allowed(incoming)) {
      outgoing.writeHead(407, { 'proxy-authenticate': 'Basic realm="fathom"', 'content-length': '0' }).end();
      return;
    }
    // Ours alone: never passed on.
    delete incoming.headers['proxy-authorization'];
    let target: URL;
    try {
      target = new URL(incoming.url ?? '');
    } catch {
      outgoing.writeHead(400).end();
      return;
    }
    const key = targetOf(target.href) ?? target.host;
    if (BROWSER_SERVICE_HOSTS.has(target.hostname)) {
      own(target.href);
      failed(key, serviceRefusal(target.hostname));
      outgoing.writeHead(403, { 'content-type': 'text/plain' }).end(OWN_REFUSAL);
      return;
    }
    if (target.protocol !== 'http:' || !literalAllowed(guard, target.hostname)) {
      refuse(target.href, key, blocked(target.hostname, target.href));
      outgoing.writeHead(403, { 'content-type': 'text/plain' }).end('Blocked by Fathom: this address is not public.');
      return;
    }
    logger.debug('browser connection', { target: target.href });
    const upstream = httpRequest(
      { host: target.hostname.replace(/^\[(.*)\]$/, '$1'), port: target.port || 80, path: target.pathname + target.search, method: incoming.method, headers: incoming.headers, lookup: guard.lookup },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', (error) => {
      refuse(target.href, key, error);
      if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' });
      outgoing.end();
    });
    incoming.pipe(upstream);
  };

  /** The sockets of CONNECT tunnels: the HTTP server lets go of them, so closing it does not end them. */
  const tunnels = new Set<Socket>();
  const track = (socket: Socket) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
  };
  const answerAndClose = (client: Socket, status: string) => client.end(`HTTP/1.1 ${status}\r\n\r\n`, () => client.destroy());

  const tunnel = (incoming: IncomingMessage, client: Socket, head: Buffer) => {
    track(client);
    if (!allowed(incoming)) {
      client.end(PROXY_AUTH_REQUIRED, () => client.destroy());
      return;
    }
    const [host = '', portText = '443'] = (incoming.url ?? '').split(/:(?=\d+$)/);
    const key = `${host.replace(/^\[(.*)\]$/, '$1')}:${portText}`;
    if (BROWSER_SERVICE_HOSTS.has(host)) {
      own(incoming.url);
      failed(key, serviceRefusal(host));
      answerAndClose(client, '403 Forbidden');
      return;
    }
    if (!literalAllowed(guard, host)) {
      refuse(incoming.url ?? '', key, blocked(host, incoming.url ?? ''));
      answerAndClose(client, '403 Forbidden');
      return;
    }
    logger.debug('browser connection', { target: incoming.url });
    let established = false;
    const upstream = connect({ host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(portText), lookup: guard.lookup }, () => {
      established = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.on('error', (error) => {
      // Once the tunnel carries the page's bytes, an error ends it; before, it is why it could not open.
      if (established) return void client.destroy();
      refuse(incoming.url ?? '', key, error);
      answerAndClose(client, '403 Forbidden');
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  };

  const server = createServer(forward);
  server.on('connect', tunnel);
  server.on('clientError', (_error, socket) => socket.destroy());

  const browserServer = createServer((incoming, outgoing) => {
    own(incoming.url);
    outgoing.writeHead(403, { 'content-type': 'text/plain' }).end(OWN_REFUSAL);
  });
  browserServer.on('connect', (incoming: IncomingMessage, client: Socket) => {
    track(client);
    own(incoming.url);
    answerAndClose(client, '403 Forbidden');
  });
  browserServer.on('clientError', (_error, socket) => socket.destroy());

  const listen = (listener: typeof server, host: string, port: number, address: string) =>
    new Promise<string>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(port, host, () => {
        listener.off('error', reject);
        const name = isIP(address) === 6 ? `[${address}]` : address;
        resolve(`http://${name}:${(listener.address() as AddressInfo).port}`);
      });
    });
  const host = options.host ?? '127.0.0.1';
  const [url, browserUrl] = await Promise.all([
    listen(server, host, options.port ?? 0, options.address ?? host),
    listen(browserServer, '127.0.0.1', 0, '127.0.0.1'),
  ]).catch((error: unknown) => {
    server.close();
    browserServer.close();
    throw new FathomError('unavailable', `The guard proxy could not listen on ${host}:${options.port ?? 0}: ${(error as Error).message}`, {
      hint: 'Pick another --cdp-proxy-host or --cdp-proxy-port.',
    });
  });
  const stop = (listener: typeof server) =>
    new Promise<void>((resolve) => {
      listener.closeAllConnections();
      listener.close(() => resolve());
    });
  return {
    url,
    browserUrl,
    failure(url, since) {
      const key = targetOf(url);
      const failed = key === undefined ? undefined : failures.get(key);
      return failed && failed.at >= since ? failed.error : undefined;
    },
    async close() {
      for (const socket of tunnels) socket.destroy();
      await Promise.all([stop(server), stop(browserServer)]);
    },
  };
}
