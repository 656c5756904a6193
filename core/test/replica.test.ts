import { describe, expect, it } from 'vitest';
import type { HttpHost } from '../src/http.js';
import { foreignReplica, replicaNamedBy, withReplica } from '../src/replica.js';
import { textOf } from '../src/testing.js';
import { connectHttp, hostsClosedAfterEach } from './security/fixtures.js';

const host = hostsClosedAfterEach();

const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const post = (url: string, body: unknown, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body: JSON.stringify(body) });
const health = async (server: HttpHost) => (await (await fetch(`http://127.0.0.1:${server.port}/healthz`)).json()) as Record<string, unknown>;

describe('replica names in ids', () => {
  it('reads the replica an id names, and tells another replica from this one', () => {
    expect(withReplica('r1', 'sbx_00')).toBe('r1.sbx_00');
    expect(replicaNamedBy('r1.sbx_00')).toBe('r1');
    expect(replicaNamedBy('sbx_00')).toBeUndefined();
    expect(replicaNamedBy('.sbx_00')).toBeUndefined();
    expect(replicaNamedBy('a b.x')).toBeUndefined();
    expect(foreignReplica('r1.x', 'r1')).toBeUndefined();
    expect(foreignReplica('r2.x', 'r1')).toBe('r2');
    expect(foreignReplica('x', 'r1')).toBeUndefined();
  });

  it('leaves ids as they are on a server without a replica name, and takes no id for another replica', () => {
    expect(withReplica(undefined, 'sbx_00')).toBe('sbx_00');
    expect(foreignReplica('r2.x', undefined)).toBeUndefined();
  });
});

describe('a host with sessions, behind a balancer', () => {
  it('hands out session ids that name its replica, and says so in /healthz; without --replica-id, plain ids', async () => {
    const named = await host({ 'replica-id': 'r1' });
    const { client, transport } = await connectHttp(named.url);
    expect(named.replica).toBe('r1');
    expect(transport.sessionId).toMatch(/^r1\.[0-9a-f-]{36}$/);
    expect(await health(named)).toMatchObject({ replica: 'r1', stateless: false, sessions: 1 });
    await client.close();
    const unnamed = await host();
    expect(unnamed.replica).toBeUndefined();
    const plain = await connectHttp(unnamed.url);
    expect(plain.transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    await plain.client.close();
  });

  it('answers a session id of another replica with 404 and why; an unknown one of its own as before', async () => {
    const server = await host({ 'replica-id': 'r2' });
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    const elsewhere = await post(server.url, ping, { 'mcp-session-id': 'r1.6f1c0000-0000-4000-8000-000000000000' });
    expect(elsewhere.status).toBe(404);
    expect(((await elsewhere.json()) as { error: { code: number; message: string } }).error).toEqual({
      code: -32001,
      message:
        'Session r1.6f1c0000-0000-4000-8000-000000000000 was opened on replica r1; this is replica r2: the balancer sent the request elsewhere ' +
        '(the replica may have stopped, and what the session held with it: the state is lost); initialize a new session',
    });
    for (const id of ['r2.6f1c0000-0000-4000-8000-000000000000', '6f1c0000-0000-4000-8000-000000000000']) {
      const missing = await post(server.url, ping, { 'mcp-session-id': id });
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: { message: string } }).error.message).toBe(
        'Session not found: it expired or the server restarted; initialize a new session',
      );
    }
  });
});

describe('a stateless host (--stateless)', () => {
  it('serves a client without a session: each request on an instance of its own', async () => {
    const server = await host({ stateless: 'true' });
    const { client, transport } = await connectHttp(server.url);
    expect(transport.sessionId).toBeUndefined();
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(['wait']);
    const result = await client.callTool({ name: 'wait', arguments: { seconds: 0, label: 'x' } });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain('x');
    expect(await health(server)).toMatchObject({ stateless: true, sessions: 0 });
    expect(server.sessions()).toBe(0);
    await client.close();
  });

  it('answers initialize without a session id, a request that carries one, and refuses GET and DELETE', async () => {
    const server = await host({ stateless: 'true' });
    const initialized = await post(server.url, initialize);
    expect(initialized.status).toBe(200);
    expect(initialized.headers.get('mcp-session-id')).toBeNull();
    const listed = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': 'r9.whatever' });
    expect(listed.status).toBe(200);
    expect(await listed.text()).toContain('"wait"');
    for (const method of ['GET', 'DELETE']) {
      const refused = await fetch(server.url, { method, headers: { accept: 'text/event-stream', 'mcp-session-id': 'r9.whatever' } });
      expect(refused.status).toBe(405);
      expect(refused.headers.get('allow')).toBe('POST');
      expect(await refused.text()).toContain('this server is stateless (--stateless)');
    }
  });
});
