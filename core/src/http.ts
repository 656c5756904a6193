import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server as NodeHttpServer, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { BaseConfig } from './config.js';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';
import type { FathomServer } from './server.js';

export interface HttpHostOptions {
  config: BaseConfig;
  port: number;
  name: string;
  version: string;
  logger: Logger;
  /** An instance serving /mcp (endpoint undefined) or /mcp/<endpoint>. */
  createServer(endpoint?: string): Promise<FathomServer>;
  /** Named subsets of the tools, each served at /mcp/<name> besides the whole set at /mcp. */
  endpoints?: readonly string[];
}

export interface HttpHost {
  url: string;
  port: number;
  sessions(): number;
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: FathomServer;
  lastSeen: number;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

function isLoopbackBind(host: string): boolean {
  return ['localhost', '127.0.0.1', '::1', '[::1]'].includes(host) || host.startsWith('127.');
}

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}) {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7) : '');
  const expected = Buffer.from(token);
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Streamable HTTP at /mcp with one MCP server instance per session, plus /healthz. Guards, in
 * order: Host and Origin (DNS rebinding), bearer token, body size, JSON, session id.
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

  const closeSession = async (id: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.server.close().catch((error) => logger.warn('session close failed', { error: errorMessage(error) }));
  };

  const newSession = async (endpoint: string | undefined): Promise<StreamableHTTPServerTransport> => {
    const server = await options.createServer(endpoint);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, lastSeen: Date.now() });
        logger.debug('session opened', { session: id, sessions: sessions.size });
      },
      onsessionclosed: (id) => void closeSession(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) void closeSession(transport.sessionId);
      else void server.close();
    };
    await server.server.connect(transport);
    return transport;
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
        raw = await readBody(req, config.maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          sendJsonRpcError(res, 413, -32600, `Request body larger than ${config.maxBodyBytes} bytes`, { connection: 'close' });
        }
        return;
      }
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        sendJsonRpcError(res, 400, -32700, `Parse error: ${errorMessage(error)}`);
        return;
      }
    }
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (!session) {
        sendJsonRpcError(res, 404, -32001, 'Session not found: it expired or the server restarted; initialize a new session');
        return;
      }
      session.lastSeen = Date.now();
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

  const http: NodeHttpServer = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!hostAllowed(req.headers.host) || !originAllowed(req.headers.origin)) {
      logger.warn('refused request', { host: req.headers.host, origin: req.headers.origin });
      sendJsonRpcError(res, 403, -32000, 'Forbidden: Host or Origin not allowed (add it with --allowed-hosts / --allowed-origins)');
      return;
    }
    if (path === '/healthz' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', server: options.name, version: options.version, sessions: sessions.size }));
      return;
    }
    const endpoint = path?.startsWith('/mcp/') ? decodeURIComponent(path.slice(5)) : undefined;
    if (path !== '/mcp' && !(endpoint && options.endpoints?.includes(endpoint))) {
      const others = (options.endpoints ?? []).map((name) => `/mcp/${name}`);
      sendJsonRpcError(res, 404, -32000, `Not found: the MCP endpoint is /mcp${others.length ? ` (or ${others.join(', ')})` : ''}`);
      return;
    }
    handleMcp(req, res, endpoint).catch((error: unknown) => {
      logger.error('http request failed', { error: errorMessage(error) });
      sendJsonRpcError(res, 500, -32603, 'Internal error');
    });
  });
  http.headersTimeout = 30_000;
  http.requestTimeout = 0;

  const idleMs = config.sessionIdleMinutes * 60_000;
  const sweeper = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const [id, session] of sessions) {
      if (session.lastSeen < cutoff) {
        logger.info('closing idle session', { session: id });
        void session.transport.close();
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

  return {
    url: `http://${shownHost}:${port}/mcp`,
    port,
    sessions: () => sessions.size,
    async close() {
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((session) => session.transport.close().catch(() => undefined)));
      await Promise.all([...sessions.keys()].map(closeSession));
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
