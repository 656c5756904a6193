import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { baseType, flagName, loadConfig, parseFlags } from '@fathom/core';
import type { ServerDefinition } from '@fathom/core';
import { FATHOM_BIN, SERVERS, TEST_CACHE, serverMain, spawnNode } from '../helpers.js';

async function definition(name: string): Promise<ServerDefinition> {
  return ((await import(`@fathom/${name}`)) as { definition: ServerDefinition }).definition;
}

function booleanKeys(definition: ServerDefinition): string[] {
  return Object.entries(definition.configSchema.shape)
    .filter(([, field]) => baseType(field as z.ZodType) === 'boolean')
    .map(([key]) => key);
}

async function fathom(args: string[]) {
  const run = spawnNode([FATHOM_BIN, ...args]);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describe('boolean options', () => {
  it.each(SERVERS)('%s reads every boolean option as --x, --x true|false, --x=true|false and --no-x', async (name) => {
    const server = await definition(name);
    const keys = booleanKeys(server);
    expect(keys).toContain('allowPrivateNetwork');
    const read = (argv: string[]) => loadConfig(server.configSchema, { server: name, env: {}, cwd: tmpdir(), flags: parseFlags(argv, server.configSchema) });
    for (const key of keys) {
      const flag = `--${flagName(key)}`;
      const forms: [string[], boolean][] = [
        [[flag], true],
        [[flag, 'true'], true],
        [[flag, 'false'], false],
        [[`${flag}=true`], true],
        [[`${flag}=false`], false],
        [[`--no-${flagName(key)}`], false],
        [[flag, 'false', '--log-level', 'warn'], false],
        [[flag, '--log-level', 'warn'], true],
      ];
      for (const [argv, expected] of forms) {
        const config = read(argv) as Record<string, unknown>;
        expect({ argv, value: config[key] }).toEqual({ argv, value: expected });
      }
    }
  });

  it.each(SERVERS)('%s --help shows each boolean option with the value it takes and its --no- form', async (name) => {
    const server = await definition(name);
    const { code, stdout } = await fathom([name, '--help']);
    expect(code).toBe(0);
    for (const key of booleanKeys(server)) {
      expect(stdout).toContain(`--${flagName(key)} [true|false]`);
      expect(stdout).toContain(`--no-${flagName(key)}`);
    }
  });

  it('starts real servers with `--robots false`, `--ocr false` and `--allow-private-network true`', async () => {
    for (const [name, args] of [
      ['search', ['--robots', 'false', '--allow-private-network', 'true', '--fanout=false']],
      ['files', ['--ocr', 'false', '--no-allow-private-network']],
    ] as const) {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [serverMain(name), ...args],
        env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' },
        stderr: 'pipe',
      });
      const client = new Client({ name: 'e2e', version: '1' });
      await client.connect(transport);
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      await client.close();
    }
  });

  it('a bad boolean value stops the server with one stderr line naming the option and the forms it takes', async () => {
    const server = spawnNode([serverMain('search'), '--robots', 'maybe']);
    expect((await server.exited).code).toBe(2);
    const lines = server.stderr().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe('fathom search: Option --robots takes true or false (got "maybe"). Write --robots, --robots true|false, --robots=true|false or --no-robots.');

    const inline = spawnNode([serverMain('files'), '--ocr=perhaps']);
    expect((await inline.exited).code).toBe(2);
    expect(inline.stderr().trim().split('\n')).toHaveLength(1);
    expect(inline.stderr()).toContain('option --ocr');
    expect(inline.stderr()).toContain('--ocr true|false');
  });

  it('the fathom commands read their switches the same ways', async () => {
    const asJson = (stdout: string) => Array.isArray(JSON.parse(stdout));
    for (const args of [['--json'], ['--json', 'true'], ['--json=true'], ['--json=yes']]) {
      const run = await fathom(['tools', 'files', ...args]);
      expect(run.code).toBe(0);
      expect(asJson(run.stdout)).toBe(true);
    }
    for (const args of [['--json', 'false'], ['--json=false'], ['--no-json']]) {
      const run = await fathom(['tools', 'files', ...args]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^files \(default profile\)/);
    }
    // A switch before the positional argument leaves it alone.
    expect(asJson((await fathom(['tools', '--json', 'files'])).stdout)).toBe(true);
    const bad = await fathom(['tools', 'files', '--json=maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('fathom: Option --json takes true or false (got "maybe"). Write --json, --json true|false, --json=true|false or --no-json.');
    expect((await fathom(['tools', '--help'])).stdout).toContain('--json [true|false]');
  });
});

describe('the egress allow list', () => {
  async function page() {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('loopback page text'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/page.txt`, close: () => server.close() };
  }

  it('is --egress-allow; --allow-hosts still works with one deprecation line; --allowed-hosts over stdio says what it is', async () => {
    const site = await page();
    try {
      // As an MCP host runs it: the server over stdio, its stderr kept apart.
      const call = async (serverArgs: string[]) => {
        const transport = new StdioClientTransport({
          command: process.execPath,
          args: [serverMain('files'), ...serverArgs],
          env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'error' },
          stderr: 'pipe',
        });
        let stderr = '';
        transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const client = new Client({ name: 'e2e', version: '1' });
        await client.connect(transport);
        const result = (await client.callTool({ name: 'read_document', arguments: { source: site.url } })) as { isError?: boolean; content: { text?: string }[] };
        await client.close();
        return { isError: result.isError ?? false, text: result.content.map((block) => block.text ?? '').join('\n'), stderr };
      };
      const allowed = await call(['--egress-allow', '127.0.0.1']);
      expect(allowed).toMatchObject({ isError: false, stderr: '' });
      expect(allowed.text).toContain('loopback page text');

      const old = await call(['--allow-hosts', '127.0.0.1']);
      expect(old.isError).toBe(false);
      expect(old.text).toContain('loopback page text');
      expect(old.stderr).toBe('fathom: --allow-hosts is deprecated: it is now --egress-allow (outbound requests; --allowed-hosts is the HTTP Host header check)\n');

      const confused = await call(['--allowed-hosts', '127.0.0.1']);
      expect(confused.isError).toBe(true);
      expect(confused.text).toContain('FATHOM_EGRESS_ALLOW=127.0.0.1');
      expect(confused.stderr).toBe(
        'fathom files: --allowed-hosts is the HTTP Host header check and does nothing over stdio; to let outbound requests reach 127.0.0.1, use --egress-allow\n',
      );
    } finally {
      site.close();
    }
  });
});
