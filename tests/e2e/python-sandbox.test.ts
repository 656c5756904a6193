import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { unmountUnder } from '@fathom/python-sandbox';
import { sandboxPids } from '../../servers/python-sandbox/test/helpers.js';
import { processAlive, serverMain, spawnNode, startHttpServer, waitFor } from '../helpers.js';

const TOOL_PYTHON = ['--profile', 'mirothinker', '--warm-pool', '0', '--cache-mode', 'off'];

function stateDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fathom-e2e-sandbox-'));
  chmodSync(dir, 0o711);
  return dir;
}

async function removeStateDirectory(dir: string): Promise<void> {
  await unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

describe('python-sandbox server process', () => {
  it('serves sessions over HTTP, and its sandboxes die with it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'fathom-e2e-sandbox-'));
    chmodSync(stateDir, 0o711);
    const server = await startHttpServer('python-sandbox', ['--state-dir', stateDir, '--warm-pool', '1', '--cache-mode', 'off']);
    const client = new Client({ name: 'e2e', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const created = await client.callTool({ name: 'python_create_session', arguments: {} });
    const id = (created.structuredContent as { session_id: string }).session_id;
    const run = await client.callTool({ name: 'python_run', arguments: { session_id: id, code: 'import numpy as np\nint(np.arange(5).sum())' } });
    expect((run.structuredContent as { value: string }).value).toBe('10');
    const kernels = sandboxPids(undefined, server.child.pid);
    expect(kernels.length).toBeGreaterThanOrEqual(3);
    await client.close();
    server.child.kill('SIGKILL');
    await server.exited;
    // --die-with-parent: no kernel outlives a server that was killed outright.
    await waitFor(() => kernels.every((pid) => !processAlive(pid)), 10_000, 'kernels to exit');
    // A server killed outright leaves its workspaces mounted for the next one to sweep: sweep them here.
    await unmountUnder(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  }, 60_000);

  // The idle expiry (sessionTtlSeconds, 600 s) is far off: a sandbox gone within seconds was freed by the session's end.
  it('frees the sandboxes of an HTTP session as soon as the client ends it (DELETE), while the server goes on', async () => {
    const stateDir = stateDirectory();
    const server = await startHttpServer('python-sandbox', [...TOOL_PYTHON, '--state-dir', stateDir]);
    try {
      const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/tool-python`));
      const client = new Client({ name: 'e2e', version: '0' });
      await client.connect(transport);
      const created = await client.callTool({ name: 'create_sandbox', arguments: {} });
      const id = /sandbox_id: (\S+)/.exec((created.content as { text: string }[])[0]!.text)![1]!;
      expect(sandboxPids(id, server.child.pid).length).toBeGreaterThan(0);
      await transport.terminateSession();
      await client.close();
      await waitFor(() => sandboxPids(undefined, server.child.pid).length === 0, 10_000, "the ended session's sandbox processes to exit");
      expect(processAlive(server.child.pid!)).toBe(true);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await removeStateDirectory(stateDir);
    }
  }, 60_000);

  it('frees the sandboxes of a stdio client as soon as it disconnects (stdin closed), and exits cleanly', async () => {
    const stateDir = stateDirectory();
    const server = spawnNode([serverMain('python-sandbox'), ...TOOL_PYTHON, '--endpoint', 'tool-python', '--state-dir', stateDir]);
    try {
      const send = (message: Record<string, unknown>) => server.child.stdin.write(JSON.stringify({ jsonrpc: '2.0', ...message }) + '\n');
      send({ id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '0' } } });
      send({ method: 'notifications/initialized' });
      send({ id: 2, method: 'tools/call', params: { name: 'create_sandbox', arguments: {} } });
      await waitFor(() => server.stdout().includes('"id":2'), 30_000, 'the create_sandbox answer');
      const id = /sandbox_id: (sbx_[0-9a-f]+)/.exec(server.stdout())![1]!;
      const pids = sandboxPids(id, server.child.pid);
      expect(pids.length).toBeGreaterThan(0);
      server.child.stdin.end();
      await waitFor(() => pids.every((pid) => !processAlive(pid)), 10_000, "the disconnected client's sandbox processes to exit");
      expect(await server.exited).toEqual({ code: 0, signal: null });
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
      await server.exited;
      await removeStateDirectory(stateDir);
    }
  }, 60_000);
});
