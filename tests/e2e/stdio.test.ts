import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { MIROTHINKER_TOOLS, SERVERS, SERVER_TOOLS, TEST_CACHE, serverMain, spawnNode, waitFor } from '../helpers.js';

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

describe('servers over stdio', () => {
  it.each(SERVERS)('%s answers initialize and tools/list through a real MCP client', async (name) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [serverMain(name)],
      env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(transport);
    expect(client.getServerVersion()?.name).toBe(`fathom-${name}`);
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    expect(client.getServerCapabilities()?.logging).toBeDefined();
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(SERVER_TOOLS[name]);
    await client.ping();
    await client.close();
  });

  it.each(SERVERS)('%s lists the mirothinker profile in its pinned order', async (name) => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [serverMain(name), '--profile', 'mirothinker'],
      env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(transport);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(MIROTHINKER_TOOLS[name]);
    await client.close();
  });

  it('answers malformed input with protocol errors, keeps going, and writes nothing but JSON-RPC to stdout', async () => {
    const server = spawnNode([serverMain('files')], { FATHOM_LOG_LEVEL: 'info' });
    const send = (line: string) => server.child.stdin.write(line + '\n');
    send(JSON.stringify(initialize));
    send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    send('this is not json');
    send('{"jsonrpc": "2.0", "id": 5, "method": ');
    send(JSON.stringify({ id: 6, hello: 'world' }));
    send(JSON.stringify([1, 2, 3]));
    send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'no/such/method' }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'list_files', arguments: { max_entries: 'lots' } } }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'missing_tool', arguments: {} } }));
    send(JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/list' }));
    await waitFor(() => server.stdout().includes('"id":10'), 10_000, 'the tools/list answer');

    const messages = lines(server.stdout()).map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const message of messages) expect(message.jsonrpc).toBe('2.0');
    const byId = (id: unknown) => messages.filter((message) => message.id === id);
    const errors = messages.filter((message) => message.error) as { id: unknown; error: { code: number } }[];

    expect(errors.filter((e) => e.id === null && e.error.code === -32700)).toHaveLength(2);
    expect(byId(6)[0]).toMatchObject({ error: { code: -32600 } });
    expect(errors.filter((e) => e.id === null && e.error.code === -32600)).toHaveLength(1);
    expect(byId(7)[0]).toMatchObject({ error: { code: -32601 } });
    expect(byId(8)[0]).toMatchObject({ result: { isError: true } });
    expect(JSON.stringify(byId(8)[0])).toContain('max_entries');
    expect(byId(9)[0]).toMatchObject({ result: { isError: true } });
    expect(JSON.stringify(byId(9)[0])).toContain('list_files');
    expect(JSON.stringify(byId(10)[0])).toContain('"name":"list_files"');

    const logged = lines(server.stderr()).map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(logged.some((entry) => entry.msg === 'serving over stdio')).toBe(true);
    server.child.stdin.end();
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    for (const line of lines(server.stdout())) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('shuts down cleanly when stdin closes and on SIGTERM', async () => {
    const viaStdin = spawnNode([serverMain('search')]);
    viaStdin.child.stdin.end();
    expect((await viaStdin.exited).code).toBe(0);

    const viaSignal = spawnNode([serverMain('search')], { FATHOM_LOG_LEVEL: 'info' });
    await waitFor(() => viaSignal.stderr().includes('serving over stdio') || viaSignal.child.exitCode !== null, 10_000, 'start');
    viaSignal.child.kill('SIGTERM');
    expect((await viaSignal.exited).code).toBe(0);
  });

  it('stops at start-up with a message naming a bad config value', async () => {
    const bad = spawnNode([serverMain('files'), '--transport', 'carrier-pigeon']);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toContain('"transport"');
    expect(bad.stderr()).toContain('option --transport');
    expect(bad.stderr()).toMatch(/stdio.*http/);
    expect(bad.stdout()).toBe('');

    const badEnv = spawnNode([serverMain('files')], { FATHOM_MAX_SESSIONS: 'many' });
    expect((await badEnv.exited).code).toBe(2);
    expect(badEnv.stderr()).toContain('FATHOM_MAX_SESSIONS');
  });
});
