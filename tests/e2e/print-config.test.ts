import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { FATHOM_BIN, SERVERS, TEST_CACHE, freePorts, spawnNode, waitFor } from '../helpers.js';

async function printConfig(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = spawnNode([FATHOM_BIN, 'serve', '--print-config', ...args], env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

type Entries = Record<string, Record<string, unknown>>;

function parsed(stdout: string, top: 'mcpServers' | 'servers'): Entries {
  const config = JSON.parse(stdout) as Record<string, Entries>;
  expect(Object.keys(config)).toEqual([top]);
  expect(Object.keys(config[top]!)).toEqual(SERVERS.map((name) => `fathom-${name}`));
  return config[top]!;
}

const stdioArgs = (name: string) => [FATHOM_BIN, name];
const url = (base: number, index: number) => `http://127.0.0.1:${base + index}/mcp`;

describe('fathom serve --print-config', () => {
  it("prints each host's stdio configuration in its own shape, with where its file lives on stderr", async () => {
    const claude = await printConfig(['claude-desktop']);
    expect(claude.code).toBe(0);
    for (const [index, entry] of Object.values(parsed(claude.stdout, 'mcpServers')).entries()) {
      expect(entry).toEqual({ command: 'node', args: stdioArgs(SERVERS[index]!) });
    }
    expect(claude.stderr).toContain('~/Library/Application Support/Claude/claude_desktop_config.json');
    expect(claude.stderr).toContain('%APPDATA%\\Claude\\claude_desktop_config.json');

    const cursor = await printConfig(['cursor', '--transport', 'stdio']);
    for (const [index, entry] of Object.values(parsed(cursor.stdout, 'mcpServers')).entries()) {
      expect(entry).toEqual({ command: 'node', args: stdioArgs(SERVERS[index]!) });
    }
    expect(cursor.stderr).toContain('~/.cursor/mcp.json');
    expect(cursor.stderr).toContain('<project>/.cursor/mcp.json');

    const vscode = await printConfig(['vscode']);
    for (const [index, entry] of Object.values(parsed(vscode.stdout, 'servers')).entries()) {
      expect(entry).toEqual({ type: 'stdio', command: 'node', args: stdioArgs(SERVERS[index]!) });
    }
    expect(vscode.stderr).toContain('<workspace>/.vscode/mcp.json');
    expect(vscode.stderr).toContain('MCP: Open User Configuration');

    const generic = await printConfig(['generic']);
    for (const [index, entry] of Object.values(parsed(generic.stdout, 'mcpServers')).entries()) {
      expect(entry).toEqual({ type: 'stdio', command: 'node', args: stdioArgs(SERVERS[index]!) });
    }
    expect(generic.stderr).toContain('"mcpServers"');
  });

  it("prints each host's HTTP configuration, with the token's header and the fathom serve line it needs", async () => {
    const base = 9931;
    const token = { FATHOM_TOKEN: 'secret-token' };
    const headers = { Authorization: 'Bearer secret-token' };

    const cursor = await printConfig(['cursor', '--transport', 'http', '--base-port', String(base)], token);
    expect(cursor.code).toBe(0);
    for (const [index, entry] of Object.values(parsed(cursor.stdout, 'mcpServers')).entries()) expect(entry).toEqual({ url: url(base, index), headers });
    expect(cursor.stderr).toContain(`"fathom serve --base-port ${base}" runs`);

    const vscode = await printConfig(['vscode', '--transport', 'http', '--base-port', String(base)]);
    for (const [index, entry] of Object.values(parsed(vscode.stdout, 'servers')).entries()) expect(entry).toEqual({ type: 'http', url: url(base, index) });

    const generic = await printConfig(['generic', '--transport', 'http', '--base-port', String(base)], token);
    for (const [index, entry] of Object.values(parsed(generic.stdout, 'mcpServers')).entries()) expect(entry).toEqual({ type: 'http', url: url(base, index), headers });

    const claude = await printConfig(['claude-desktop', '--transport', 'http']);
    expect(claude.code).toBe(2);
    expect(claude.stdout).toBe('');
    expect(claude.stderr).toContain("Claude Desktop's claude_desktop_config.json starts local servers over stdio only: use --transport stdio");
  });

  it('names the tool groups of the mirothinker profile, and refuses what it cannot print', async () => {
    const miro = await printConfig(['vscode', '--profile', 'mirothinker', '--servers', 'python-sandbox', '--transport', 'http']);
    expect(JSON.parse(miro.stdout)).toEqual({ servers: { 'tool-python': { type: 'http', url: 'http://127.0.0.1:8934/mcp/tool-python' } } });
    expect(miro.stderr).toContain('"fathom serve --servers python-sandbox --profile mirothinker" runs');

    const unknown = await printConfig(['zed']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('choose one of claude-desktop, cursor, vscode, generic');
    const transportAlone = spawnNode([FATHOM_BIN, 'serve', '--transport', 'http']);
    expect((await transportAlone.exited).code).toBe(2);
    expect(transportAlone.stderr()).toContain('--transport goes with --print-config');
  });

  it('a printed stdio command starts its server, and a real MCP client lists its tools', async () => {
    const { stdout } = await printConfig(['claude-desktop', '--servers', 'files']);
    const entry = (JSON.parse(stdout) as { mcpServers: Record<string, { command: string; args: string[] }> }).mcpServers['fathom-files']!;
    const client = new Client({ name: 'e2e', version: '1' });
    await client.connect(
      new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE }, stderr: 'pipe' }),
    );
    expect(client.getServerVersion()?.name).toBe('fathom-files');
    expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('read_document');
    await client.close();
  });

  it('a printed HTTP URL reaches the server fathom serve runs with the same options', async () => {
    const base = await freePorts(4);
    const serve = spawnNode([FATHOM_BIN, 'serve', '--base-port', String(base), '--servers', 'files']);
    try {
      await waitFor(() => serve.stderr().includes('Ctrl+C'), 30_000, 'fathom serve');
      const { stdout } = await printConfig(['cursor', '--transport', 'http', '--base-port', String(base), '--servers', 'files']);
      const entry = (JSON.parse(stdout) as { mcpServers: Record<string, { url: string }> }).mcpServers['fathom-files']!;
      const client = new Client({ name: 'e2e', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(entry.url)));
      expect(client.getServerVersion()?.name).toBe('fathom-files');
      expect((await client.listTools()).tools.map((tool) => tool.name)).toContain('read_document');
      await client.close();
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  }, 60_000);
});
