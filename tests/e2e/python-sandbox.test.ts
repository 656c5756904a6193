import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { processAlive, startHttpServer, waitFor } from '../helpers.js';

/** Pids of sandbox kernels whose workspace lies under `stateDir`. */
function kernelsUnder(stateDir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir);
      } catch {
        return false;
      }
    });
}

describe('python-sandbox server process', () => {
  it('serves sessions over HTTP, and its sandboxes die with it', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'fathom-e2e-sandbox-'));
    const server = await startHttpServer('python-sandbox', ['--state-dir', stateDir, '--warm-pool', '1', '--cache-mode', 'off']);
    const client = new Client({ name: 'e2e', version: '0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const created = await client.callTool({ name: 'python_create_session', arguments: {} });
    const id = (created.structuredContent as { session_id: string }).session_id;
    const run = await client.callTool({ name: 'python_run', arguments: { session_id: id, code: 'import numpy as np\nint(np.arange(5).sum())' } });
    expect((run.structuredContent as { value: string }).value).toBe('10');
    expect(kernelsUnder(stateDir).length).toBeGreaterThanOrEqual(1);
    await client.close();
    server.child.kill('SIGKILL');
    await server.exited;
    // --die-with-parent: no kernel outlives a server that was killed outright.
    await waitFor(() => kernelsUnder(stateDir).every((pid) => !processAlive(pid)) && kernelsUnder(stateDir).length === 0, 10_000, 'kernels to exit');
  }, 60_000);
});
