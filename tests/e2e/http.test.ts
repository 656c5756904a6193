import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIROTHINKER_TOOLS, ROOT, SERVERS, SERVER_TOOLS, freePort, healthy, processAlive, spawnNode, startHttpServer, waitFor } from '../helpers.js';

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
const ACCEPT = 'application/json, text/event-stream';

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** node:http, since fetch may not set the Host header. */
function postWithHost(url: string, host: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, {
      method: 'POST',
      headers: { host, 'content-type': 'application/json', accept: ACCEPT },
    }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('error', reject);
    request.end(JSON.stringify(body));
  });
}

async function connect(url: string, token?: string) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    ...(token ? { requestInit: { headers: { Authorization: `Bearer ${token}` } } } : {}),
  });
  const client = new Client({ name: 'e2e', version: '1' });
  await client.connect(transport);
  return { client, transport };
}

describe.each(SERVERS)('%s over Streamable HTTP', (name) => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  beforeAll(async () => {
    server = await startHttpServer(name);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('lists its tools to a real MCP client and reports health', async () => {
    const { client } = await connect(server.url);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(SERVER_TOOLS[name]);
    const health = (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', server: name, sessions: 1 });
    await client.close();
  });
});

describe.each(SERVERS)('%s over Streamable HTTP, mirothinker profile', (name) => {
  it('lists its tools in their pinned order', async () => {
    const server = await startHttpServer(name, ['--profile', 'mirothinker']);
    try {
      const { client } = await connect(server.url);
      expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(MIROTHINKER_TOOLS[name]);
      await client.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('HTTP guards', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  beforeAll(async () => {
    server = await startHttpServer('files', ['--max-body-bytes', '10000']);
  });
  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });

  it('answers 404 for an unknown session id and 400 for a request without one', async () => {
    const unknown = await post(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': 'no-such-session' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/initialize a new session/);
    const none = await post(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    expect(none.status).toBe(400);
  });

  it('refuses a foreign Host or Origin with 403 and accepts loopback ones', async () => {
    expect(await postWithHost(server.url, 'evil.example.com', initialize)).toBe(403);
    expect(await postWithHost(server.url, `evil.example.com:${server.port}`, initialize)).toBe(403);
    expect(await postWithHost(server.url, `localhost:${server.port}`, initialize)).toBe(200);
    const evilOrigin = await post(server.url, initialize, { origin: 'http://evil.example.com' });
    expect(evilOrigin.status).toBe(403);
    const good = await post(server.url, initialize, { origin: `http://localhost:${server.port}` });
    expect(good.status).toBe(200);
    expect(good.headers.get('mcp-session-id')).toBeTruthy();
  });

  it('answers a malformed body with a JSON-RPC parse error and an oversized one with 413, and keeps serving', async () => {
    const malformed = await post(server.url, '{"jsonrpc": "2.0", "id": ');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const huge = await post(server.url, { ...initialize, padding: 'x'.repeat(50_000) });
    expect(huge.status).toBe(413);
    const { client } = await connect(server.url);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('list_files');
    await client.close();
  });

  it('forgets a session after DELETE', async () => {
    const { client, transport } = await connect(server.url);
    const id = transport.sessionId!;
    await transport.terminateSession();
    const after = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' });
    expect(after.status).toBe(404);
    await client.close();
  });

  it('answers 404 outside /mcp and /healthz', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  });
});

describe('bearer token', () => {
  it('requires FATHOM_TOKEN when set', async () => {
    const server = await startHttpServer('files', [], { FATHOM_TOKEN: 's3cret-token' });
    try {
      const missing = await post(server.url, initialize);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await post(server.url, initialize, { authorization: 'Bearer s3cret-tokeX' });
      expect(wrong.status).toBe(401);
      const { client } = await connect(server.url, 's3cret-token');
      expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('read_document');
      await client.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

describe('shutdown', () => {
  it('closes sessions and kills child processes on SIGTERM', async () => {
    const port = await freePort();
    const server = spawnNode([`${ROOT}tests/fixtures/spawning-server.mjs`, '--transport', 'http', '--port', String(port)]);
    await waitFor(() => healthy(port), 15_000, 'fixture server');
    const { client } = await connect(`http://127.0.0.1:${port}/mcp`);
    const result = await client.callTool({ name: 'start_sleeper', arguments: {} });
    const pid = Number((result.content as { text: string }[])[0]!.text);
    expect(processAlive(pid)).toBe(true);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    await waitFor(() => !processAlive(pid), 5_000, 'the child to die');
    await client.close().catch(() => undefined);
  });
});
