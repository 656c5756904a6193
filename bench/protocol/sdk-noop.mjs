// The bare MCP SDK (v2) equivalent of fathom-noop.mjs: McpServer + registerTool with the same no-op,
// served in both protocol eras the way the SDK's docs show.
// stdio: serveStdio (the client's opening picks the era; one instance per connection).
// http: a plain node:http server at /mcp; a 2025-era request (isLegacyRequest) goes to its session's
// NodeStreamableHTTPServerTransport (one McpServer per session), a 2026-era one to createMcpHandler
// (one McpServer per request).
// Usage: node bench/protocol/sdk-noop.mjs --transport stdio|http [--port N] [--host H]
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { NodeStreamableHTTPServerTransport, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import { McpServer, createMcpHandler, isInitializeRequest, isLegacyRequest } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { z } from 'zod';

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}

function newServer() {
  const server = new McpServer({ name: 'bench-noop-sdk', version: '0.0.0' });
  server.registerTool(
    'noop',
    {
      title: 'No-op',
      description: 'Returns the text it is given; does nothing else.',
      inputSchema: z.object({ text: z.string().optional().describe('Text to echo back') }),
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ text }) => ({ content: [{ type: 'text', text: text ?? '' }] }),
  );
  return server;
}

const transportKind = option('transport', 'stdio');

if (transportKind === 'stdio') {
  serveStdio(newServer);
} else {
  const port = Number(option('port', '0'));
  const host = option('host', '127.0.0.1');
  const transports = new Map();
  const modern = toNodeHandler(createMcpHandler(newServer, { legacy: 'reject' }));

  const readJson = (req) =>
    new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(error);
        }
      });
      req.on('error', reject);
    });

  const http = createServer(async (req, res) => {
    try {
      if ((req.url ?? '/').split('?')[0] !== '/mcp') {
        res.writeHead(404).end();
        return;
      }
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      if (req.method === 'POST' && !(await isLegacyRequest(await toWebRequest(req, body), body))) {
        await modern(req, res, body);
        return;
      }
      const sessionId = req.headers['mcp-session-id'];
      let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
      if (!transport) {
        if (sessionId === undefined && req.method === 'POST' && isInitializeRequest(body)) {
          transport = new NodeStreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (id) => transports.set(id, transport),
          });
          transport.onclose = () => {
            if (transport.sessionId) transports.delete(transport.sessionId);
          };
          await newServer().connect(transport);
        } else {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Bad Request: No valid session ID provided' } }));
          return;
        }
      }
      await transport.handleRequest(req, res, body);
    } catch (error) {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: String(error) } }));
      }
    }
  });
  http.listen(port, host);
  const stop = () => {
    for (const transport of transports.values()) void transport.close();
    http.closeAllConnections();
    http.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
