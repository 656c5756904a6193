import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { unmountUnder } from '../../servers/python-sandbox/src/backends/volume.js';
import { sandboxPids } from '../../servers/python-sandbox/test/helpers.js';
import { processAlive, startHttpServer, waitFor } from '../helpers.js';

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
});
