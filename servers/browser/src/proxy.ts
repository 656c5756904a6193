import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, isIP } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { AddressGuard, Logger } from '@fathom/core';

export interface GuardProxy {
  /** http://127.0.0.1:PORT, for Chromium's --proxy-server. */
  url: string;
  close(): Promise<void>;
}

/** Whether a literal IP host may be reached; names are checked by the guard's lookup at connect time. */
function literalAllowed(guard: AddressGuard, host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return !isIP(bare) || guard.allowsHostname(bare) || guard.allowsAddress(bare);
}

/**
 * A forward proxy every browser connection goes through (Chromium is started with it and no
 * bypass, loopback included). Each connection, every redirect hop and WebSocket among them, is
 * made here with the guard's own DNS lookup, so a page can reach only what the guarded HTTP
 * client may: no redirect, rebinding or literal address gets round the rules.
 */
export async function startGuardProxy(guard: AddressGuard, logger: Logger): Promise<GuardProxy> {
  const refuse = (target: string, error?: Error) => logger.info('browser connection refused', { target, error: error?.message });

  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    let target: URL;
    try {
      target = new URL(incoming.url ?? '');
    } catch {
      outgoing.writeHead(400).end();
      return;
    }
    if (target.protocol !== 'http:' || !literalAllowed(guard, target.hostname)) {
      refuse(target.href);
      outgoing.writeHead(403, { 'content-type': 'text/plain' }).end('Blocked by Fathom: this address is not public.');
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname.replace(/^\[(.*)\]$/, '$1'), port: target.port || 80, path: target.pathname + target.search, method: incoming.method, headers: incoming.headers, lookup: guard.lookup },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', (error) => {
      refuse(target.href, error);
      if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' });
      outgoing.end();
    });
    incoming.pipe(upstream);
  };

  const tunnel = (incoming: IncomingMessage, client: Socket, head: Buffer) => {
    const [host = '', portText = '443'] = (incoming.url ?? '').split(/:(?=\d+$)/);
    if (!literalAllowed(guard, host)) {
      refuse(incoming.url ?? '');
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const upstream = connect({ host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(portText), lookup: guard.lookup }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (error) => {
      refuse(incoming.url ?? '', error);
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    });
    client.on('error', () => upstream.destroy());
  };

  const server = createServer(forward);
  server.on('connect', tunnel);
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
