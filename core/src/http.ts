import { randomUUID, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, createServer } from 'node:http';
import type { IncomingMessage, Server as NodeHttpServer, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { NodeStreamableHTTPServerTransport as StreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import { isInitializeRequest } from '@modelcontextprotocol/server';
import type { BaseConfig } from './config.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import { ModernEndpoints, isModernRequest } from './modern.js';
import type { InstanceOptions } from './modern.js';
import { foreignReplica, withReplica, wrongReplicaText } from './replica.js';
import type { FathomServer } from './server.js';

export interface HttpHostOptions {
  config: BaseConfig;
  port: number;
  name: string;
  version: string;
  logger: Logger;
  /** An instance serving /mcp (endpoint undefined) or /mcp/<endpoint>: a 2025-era session, or one 2026-era request. */
  createServer(endpoint?: string, instance?: InstanceOptions): Promise<FathomServer>;
  /** Named subsets of the tools, each served at /mcp/<name> besides the whole set at /mcp. */
  endpoints?: readonly string[];
}

export interface HttpHost {
  url: string;
  port: number;
  /** The replica this host is (--replica-id): named in the session ids it hands out. */
  replica: string | undefined;
  sessions(): number;
  /** Answers the calls in flight with an error that starts with `reason`, then closes every session and connection. */
  close(reason?: string): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: FathomServer;
  lastSeen: number;
  /** Requests of the session still being answered. */
  open: number;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
/** How long closing waits for the last answers to reach their clients before it cuts the connections. */
const DRAIN_MS = 2000;

function isLoopbackBind(host: string): boolean {
  return ['localhost', '127.0.0.1', '::1', '[::1]'].includes(host) || host.startsWith('127.');
}

function jsonRpcError(code: number, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } });
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}) {
  if (res.headersSent) return;
  const body = jsonRpcError(code, message);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * Node's answer to a request it could not parse or that timed out, as a JSON-RPC error. There is
 * no response object then: the answer is written to the socket, which is closed after it.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, tooSlow: string): void {
  const connection = socket as Socket;
  if (error.code === 'ECONNRESET' || !connection.writable || connection.bytesWritten > 0) {
    connection.destroy();
    return;
  }
  const [status, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, tooSlow]
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request header fields too large: send smaller headers']
        : [400, `Bad Request: not a valid HTTP request (${error.message})`];
  const body = jsonRpcError(-32600, message);
  connection.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    () => connection.destroy(),
  );
}

function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

class BodyTooLarge extends Error {}
class BodyTooSlow extends Error {}

/** The body, unless it is larger than `limit` bytes or still incomplete after `deadlineMs`. */
function readBody(req: IncomingMessage, limit: number, deadlineMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      if (!error) return resolve(Buffer.concat(chunks));
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(new BodyTooLarge());
      else chunks.push(chunk);
    };
    const timer = setTimeout(() => finish(new BodyTooSlow()), deadlineMs);
    req.on('data', onData);
    req.once('end', () => finish());
    req.once('error', (error) => finish(error));
    req.once('close', () => finish(new Error('the connection closed before the body ended')));
  });
}

/**
 * Streamable HTTP at /mcp, plus /healthz. Guards, in order: Host and Origin (DNS rebinding), bearer
 * token, body size, JSON; then a 2026-07-28-era request (it carries the per-request `_meta`
 * envelope) goes to an instance of its own, and a 2025-era one to its session's instance by
 * session id. With `stateless`, a 2025-era request too is served by an instance of its own and no
 * session id is handed out, so any replica behind a balancer can answer any request.
 */
export async function startHttpHost(options: HttpHostOptions): Promise<HttpHost> {
  const { config, logger } = options;
  const sessions = new Map<string, Session>();
  const loopback = isLoopbackBind(config.host);

  const hostAllowed = (host: string | undefined): boolean => {
    if (!host) return false;
    const name = host.replace(/:\d+$/, '').toLowerCase();
    if (config.allowedHosts.some((allowed) => allowed.toLowerCase() === host.toLowerCase() || allowed.toLowerCase() === name)) return true;
    if (loopback) return LOOPBACK_NAMES.includes(name);
    return config.allowedHosts.length === 0;
  };

  const originAllowed = (origin: string | undefined): boolean => {
    if (origin === undefined) return true;
    if (config.allowedOrigins.includes(origin)) return true;
    try {
      return hostAllowed(new URL(origin).host);
    } catch {
      return false;
    }
  };

  const headersTimeoutMs = Math.round(Math.min(config.headersTimeoutSeconds, config.requestTimeoutSeconds) * 1000);
  const requestTimeoutMs = Math.round(config.requestTimeoutSeconds * 1000);
  const tooSlow =
    `Request Timeout: the request did not arrive in time (its headers within ${headersTimeoutMs / 1000} s, ` +
    `the whole request within ${requestTimeoutMs / 1000} s); send it again without pausing`;
  const idleMs = config.sessionIdleMinutes * 60_000;
  const openResponses = new Set<ServerResponse>();
  let stopping: string | undefined;
  const modern = new ModernEndpoints((endpoint, instance) => options.createServer(endpoint, instance), logger);
  /** Session ids start with it, when the server is a named replica. */
  const replica = config.replicaId;
  /** MCP requests answered (or being answered), for /healthz: how a balancer's spread shows. */
  let requests = 0;
  /** The instances answering one stateless request now: closing the host answers their calls first. */
  const statelessLive = new Set<FathomServer>();

  /** Closes a session; its calls in flight are answered first with an error that starts with `reason`. */
  const closeSession = async (id: string, reason?: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.server.close(reason).catch((error) => logger.warn('session close failed', { error: errorMessage(error) }));
  };

  const newSession = async (endpoint: string | undefined): Promise<StreamableHTTPServerTransport> => {
    const server = await options.createServer(endpoint);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => withReplica(replica, randomUUID()),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, lastSeen: Date.now(), open: 0 });
        logger.debug('session opened', { session: id, sessions: sessions.size });
      },
      onsessionclosed: (id) => closeSession(id, 'The client closed the session (HTTP DELETE)'),
    });
    transport.onclose = () => {
      if (transport.sessionId) void closeSession(transport.sessionId);
      else void server.close();
    };
    await server.server.connect(transport);
    return transport;
  };

  /** A 2025-era request without a session: an instance and a transport of its own, closed once it is answered. */
  const serveStateless = async (req: IncomingMessage, res: ServerResponse, body: unknown, endpoint: string | undefined) => {
    if (req.method !== 'POST') {
      sendJsonRpcError(
        res,
        405,
        -32000,
        'Method Not Allowed: this server is stateless (--stateless): it keeps no sessions and no server-to-client stream; send each request as a POST',
        { allow: 'POST' },
      );
      return;
    }
    let gone = false;
    const onGone = () => (gone = true);
    res.once('close', onGone);
    const server = await options.createServer(endpoint, { perRequest: true });
    res.off('close', onGone);
    if (gone) {
      // The client went away while the instance was made.
      void server.close();
      return;
    }
    statelessLive.add(server);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.once('close', () => {
      statelessLive.delete(server);
      void transport.close();
      void server.close();
    });
    await server.server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const handleMcp = async (req: IncomingMessage, res: ServerResponse, endpoint: string | undefined) => {
    if (config.token && !tokenMatches(req.headers.authorization, config.token)) {
      sendJsonRpcError(res, 401, -32001, 'Unauthorized: send the header "Authorization: Bearer <token>"', {
        'www-authenticate': 'Bearer',
      });
      return;
    }
    let body: unknown;
    if (req.method === 'POST') {
      let raw: Buffer;
      try {
        raw = await readBody(req, config.maxBodyBytes, requestTimeoutMs);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          sendJsonRpcError(res, 413, -32600, `Request body larger than ${config.maxBodyBytes} bytes`, { connection: 'close' });
        } else if (error instanceof BodyTooSlow) {
          res.once('finish', () => req.socket.destroy());
          sendJsonRpcError(res, 408, -32600, tooSlow, { connection: 'close' });
        }
        return;
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        sendJsonRpcError(res, 400, -32700, `Parse error: ${errorMessage(error)}`);
        return;
      }
      requests++;
      if (await isModernRequest(req, body)) {
        await modern.serve(req, res, body, endpoint);
        return;
      }
    }
    if (config.stateless) {
      await serveStateless(req, res, body, endpoint);
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (!session) {
        const named = foreignReplica(sessionId, replica);
        const message = named
          ? `${wrongReplicaText(`Session ${sessionId}`, named, replica, 'what the session held')}; initialize a new session`
          : 'Session not found: it expired or the server restarted; initialize a new session';
        sendJsonRpcError(res, 404, -32001, message);
        return;
      }
      session.lastSeen = Date.now();
      // A call (or a stream) still open keeps its session alive, however long it takes.
      session.open++;
      res.once('close', () => {
        session.open--;
        session.lastSeen = Date.now();
      });
      await session.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method === 'POST' && isInitializeRequest(body)) {
      if (sessions.size >= config.maxSessions) {
        sendJsonRpcError(res, 503, -32000, `Too many sessions (${config.maxSessions}); close one or try again later`);
        return;
      }
      const transport = await newSession(endpoint);
      await transport.handleRequest(req, res, body);
      if (!transport.sessionId) await transport.close();
      return;
    }
    sendJsonRpcError(res, 400, -32000, 'Bad Request: no valid session id; send an initialize request first');
  };

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (stopping !== undefined) {
      sendJsonRpcError(res, 503, -32000, `${stopping}: connect again once it is back`, { connection: 'close' });
      return;
    }
    if (!hostAllowed(req.headers.host) || !originAllowed(req.headers.origin)) {
      logger.warn('refused request', { host: req.headers.host, origin: req.headers.origin });
      sendJsonRpcError(res, 403, -32000, 'Forbidden: Host or Origin not allowed (add it with --allowed-hosts / --allowed-origins)');
      return;
    }
    if (path === '/healthz' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          status: 'ok',
          server: options.name,
          version: options.version,
          pid: process.pid,
          replica,
          stateless: config.stateless,
          sessions: sessions.size,
          requests,
        }),
      );
      return;
    }
    const others = (options.endpoints ?? []).map((name) => `/mcp/${name}`);
    const served = `the MCP endpoint is /mcp${others.length ? ` (or ${others.join(', ')})` : ''}`;
    const endpoint = path.startsWith('/mcp/') ? decodePathSegment(path.slice(5)) : undefined;
    if (path.startsWith('/mcp/') && endpoint === undefined) {
      sendJsonRpcError(res, 400, -32600, `Bad Request: the path ${path.slice(0, 200)} is not valid percent-encoding; ${served}`);
      return;
    }
    if (path !== '/mcp' && !(endpoint && options.endpoints?.includes(endpoint))) {
      sendJsonRpcError(res, 404, -32000, `Not found: ${served}`);
      return;
    }
    await handleMcp(req, res, endpoint);
  };

  const http: NodeHttpServer = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(headersTimeoutMs / 4, 5000)),
    },
    (req, res) => {
      openResponses.add(res);
      res.once('close', () => openResponses.delete(res));
      route(req, res).catch((error: unknown) => {
        logger.error('http request failed', { error: errorMessage(error) });
        sendJsonRpcError(res, 500, -32603, 'Internal error');
      });
    },
  );
  http.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, tooSlow));

  const sweeper = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const [id, session] of sessions) {
      if (session.open === 0 && session.lastSeen < cutoff) {
        logger.info('closing idle session', { session: id });
        void closeSession(id, `The session was closed after ${config.sessionIdleMinutes} minutes without requests`);
      }
    }
  }, Math.min(idleMs, 60_000));
  sweeper.unref();

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  if (!loopback && !config.token) {
    logger.warn('listening beyond loopback without a token: set FATHOM_TOKEN', { host: config.host });
  }

  let closed: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}/mcp`,
    port,
    replica,
    sessions: () => sessions.size,
    close(reason = 'The server is shutting down') {
      closed ??= (async () => {
        stopping = reason;
        clearInterval(sweeper);
        await Promise.all([...sessions.keys()].map((id) => closeSession(id, reason)));
        await modern.close(reason);
        await Promise.all([...statelessLive].map((server) => server.close(reason)));
        await drained(openResponses, DRAIN_MS);
        await new Promise<void>((resolve) => {
          http.close(() => resolve());
          http.closeAllConnections();
        });
      })();
      return closed;
    },
  };
}

/** Resolves once every response in `open` has finished, or after `limitMs`. */
function drained(open: Set<ServerResponse>, limitMs: number): Promise<void> {
  const pending = [...open].filter((res) => !res.writableFinished);
  if (pending.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, limitMs);
    void Promise.all(pending.map((res) => new Promise((done) => res.once('close', done)))).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
