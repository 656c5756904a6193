// The bare MCP SDK equivalent of fathom-noop.mjs: McpServer + registerTool with the same no-op.
// stdio: StdioServerTransport. http: a plain node:http server with one
// StreamableHTTPServerTransport (and one McpServer) per session at /mcp, as the SDK docs show.
// Usage: node bench/protocol/sdk-noop.mjs --transport stdio|http [--port N] [--host H]
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
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
      inputSchema: { text: z.string().optional().describe('Text to echo back') },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async ({ text }) => ({ content: [{ type: 'text', text: text ?? '' }] }),
  );
  return server;
}

const transportKind = option('transport', 'stdio');

if (transportKind === 'stdio') {
  await newServer().connect(new StdioServerTransport());
} else {
  const port = Number(option('port', '0'));
  const host = option('host', '127.0.0.1');
  const transports = new Map();

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
      const sessionId = req.headers['mcp-session-id'];
      let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
      if (!transport) {
        if (sessionId === undefined && req.method === 'POST' && isInitializeRequest(body)) {
          transport = new StreamableHTTPServerTransport({
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
