import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { execFileSync } from 'node:child_process';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium } from '@fathom/browser';
import { FATHOM_BIN, ROOT, SERVERS, freePorts, healthy, processAlive, serverMain, spawnNode, waitFor } from '../helpers.js';
import { skipWithoutRedis, startRedis } from '../services.js';

async function fathom(args: string[], env: NodeJS.ProcessEnv = {}) {
  const run = spawnNode([FATHOM_BIN, ...args], env);
  const { code } = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

describe('fathom CLI', () => {
  it('prints its version from package.json and help for every command', async () => {
    const { version } = (await import(`${ROOT}package.json`, { with: { type: 'json' } })).default as { version: string };
    expect((await fathom(['--version'])).stdout.trim()).toBe(version);
    const help = await fathom(['--help']);
    for (const command of ['serve', 'tools', 'call', 'doctor', ...SERVERS]) expect(help.stdout).toContain(command);
    const serverHelp = await fathom(['files', '--help']);
    expect(serverHelp.code).toBe(0);
    expect(serverHelp.stdout).toContain('--transport');
    expect(serverHelp.stdout).toContain('FATHOM_ROOTS');
  });

  it('server help keeps terms and descriptions apart: a long term puts its description on the next line', async () => {
    for (const name of SERVERS) {
      const { stdout } = await fathom([name, '--help']);
      const lines = stdout.split('\n');
      for (const [index, line] of lines.entries()) {
        const term = /^ {2}(--[\w-]+(?: <[^>]*>| \[true\|false\])?)(.*)$/.exec(line);
        if (!term) continue;
        const rest = term[2]!;
        // Either the term stands alone and its description is indented below, or two spaces part them.
        if (rest === '') expect(lines[index + 1]).toMatch(/^ {20,}\S/);
        else expect(rest).toMatch(/^ {2,}\S/);
        expect(line.length).toBeLessThanOrEqual(100);
      }
      expect(stdout).toMatch(/\n {2}--log-level <debug \| info \| warn \| error \| silent>\n {20,}stderr log level \[FATHOM_LOG_LEVEL\]\n/);
    }
  });

  it('lists tools with their descriptions', async () => {
    const { code, stdout } = await fathom(['tools', 'files']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/files \(default profile\): 6 tools; arguments marked \? are optional/);
    expect(stdout).toContain('read_document(source, pages?, sheet?, cursor?, max_chars?, main_content?)');
    expect(stdout).toContain('list_files(path?, glob?, max_entries?)');
    const json = await fathom(['tools', '--json']);
    expect(Object.keys(JSON.parse(json.stdout) as object)).toEqual([...SERVERS]);
  });

  it('calls a tool over stdio: exit 0 on success, 1 on a tool error, 2 on usage errors', async () => {
    const dir = tempDir('fathom-cli-');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    writeFileSync(join(dir, 'data.csv'), 'a,b');

    const ok = await fathom(['call', 'files', 'list_files', '{"glob": "*.txt"}', '--', '--roots', dir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('notes.txt');
    expect(ok.stdout).not.toContain('data.csv');

    const json = await fathom(['call', 'files', 'list_files', '{}', '--json', '--', '--roots', dir]);
    expect(json.code).toBe(0);
    const structured = JSON.parse(json.stdout) as { entries: { path: string }[] };
    expect(structured.entries.map((entry) => entry.path)).toEqual(['data.csv', 'notes.txt']);

    const unknownTool = await fathom(['call', 'files', 'no_such_tool', '{}']);
    expect(unknownTool.code).toBe(1);
    expect(unknownTool.stderr).toContain('Unknown tool "no_such_tool"');

    const badArgs = await fathom(['call', 'files', 'list_files', '{"max_entries": -3}']);
    expect(badArgs.code).toBe(1);
    expect(badArgs.stderr).toContain('max_entries');

    const badJson = await fathom(['call', 'files', 'list_files', '{oops']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('not valid JSON');

    const badServer = await fathom(['call', 'nowhere', 'x']);
    expect(badServer.code).toBe(2);

    const badServerOption = await fathom(['call', 'files', 'list_files', '{}', '--', '--bogus', '1']);
    expect(badServerOption.code).toBe(2);
    expect(badServerOption.stderr).toContain('Unknown option --bogus');
  });

  it('call --save writes image content to files and prints their paths', async () => {
    if (!findChromium() && !process.env.CI) {
      console.log('Skipping call --save: Chromium not found (apt-get install chromium)');
      return;
    }
    const dir = tempDir('fathom-save-');
    const server = ['--', '--output-dir', join(dir, 'output')];
    const shots = join(dir, 'shots');
    const text = await fathom(['call', 'browser', 'browser_screenshot', '{}', '--save', shots, ...server]);
    expect(text.code).toBe(0);
    const first = join(shots, 'browser_screenshot-1.png');
    expect(text.stdout).toMatch(new RegExp(`^\\[image image/png, \\d+ bytes, saved to ${first}\\]$`, 'm'));
    expect(readFileSync(first).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    // A second call keeps the first file and says where the new one went, on stderr beside --json.
    const json = await fathom(['call', 'browser', 'browser_screenshot', '{}', '--save', shots, '--json', ...server]);
    expect(json.code).toBe(0);
    const second = join(shots, 'browser_screenshot-2.png');
    expect(json.stderr).toContain(`saved ${second}`);
    expect(JSON.parse(json.stdout)).toHaveProperty('content');
    expect(readdirSync(shots).sort()).toEqual(['browser_screenshot-1.png', 'browser_screenshot-2.png']);
  }, 60_000);

  it('git ignores the folders Fathom writes into the working directory', () => {
    const paths = ['fathom-output/export.csv', 'fathom-traces/run.jsonl', 'fathom-eval/results.jsonl'];
    const ignored = execFileSync('git', ['check-ignore', '--no-index', ...paths], { cwd: ROOT, encoding: 'utf8' });
    expect(ignored.trim().split('\n')).toEqual(paths);
  });

  it('doctor lists every system part with a fix for what is missing', async () => {
    const { code, stdout } = await fathom(['doctor', '--json']);
    const checks = JSON.parse(stdout) as { name: string; ok: boolean; fix?: string; neededBy: string }[];
    const names = checks.map((check) => check.name);
    for (const part of ['node', 'chromium', 'bubblewrap', 'python3', 'python3-numpy', 'python3-pandas', 'python3-scipy', 'python3-sympy', 'python3-matplotlib', 'sqlite', 'cache', 'resource limits']) {
      expect(names).toContain(part);
    }
    for (const check of checks.filter((c) => !c.ok)) expect(check.fix).toBeTruthy();
    const missingRequired = checks.filter((check) => !check.ok && check.neededBy !== 'benchmarks only');
    expect(code).toBe(missingRequired.length > 0 ? 1 : 0);
    if (process.env.CI) expect(checks.filter((check) => !check.ok)).toEqual([]);
    else if (missingRequired.length > 0) console.warn(`doctor: missing here: ${missingRequired.map((c) => c.name).join(', ')}`);
  });

  describe('doctor and the shared cache', () => {
    if (skipWithoutRedis()) return;

    it('reports the Redis of FATHOM_CACHE_URL reachable, then not, with a fix', async () => {
      const redis = await startRedis();
      try {
        const cacheOf = async (env: NodeJS.ProcessEnv) => {
          const { code, stdout } = await fathom(['doctor', '--json'], env);
          return { code, check: (JSON.parse(stdout) as { name: string; ok: boolean; detail: string; fix?: string }[]).find((c) => c.name === 'cache')! };
        };
        const up = await cacheOf({ FATHOM_CACHE_URL: redis.url });
        expect(up.check).toMatchObject({ ok: true, detail: expect.stringMatching(/^Redis at redis:\/\/127\.0\.0\.1:\d+\/0: reachable, 0 entries/) });
        await redis.kill();
        const down = await cacheOf({ FATHOM_CACHE_URL: redis.url });
        expect(down.check).toMatchObject({ ok: false, detail: expect.stringMatching(/not reachable \(.*ECONNREFUSED/), fix: expect.stringContaining('FATHOM_CACHE_URL') });
        expect(down.code).toBe(1);
        const file = await cacheOf({ FATHOM_CACHE_URL: '' });
        expect(file.check).toMatchObject({ ok: true, detail: expect.stringContaining('SQLite file') });
      } finally {
        await redis.stop();
      }
    });
  });

  it('serve starts the four servers on consecutive ports, prints mcpServers JSON, restarts one that dies, and stops them all', async () => {
    const base = await freePorts(4);
    const serve = spawnNode([FATHOM_BIN, 'serve', '--base-port', String(base)]);
    try {
      await waitFor(() => serve.stdout().trim().endsWith('}') && serve.stderr().includes('Ctrl+C'), 30_000, 'fathom serve');
      const printed = JSON.parse(serve.stdout()) as { mcpServers: Record<string, { url: string }> };
      expect(Object.keys(printed.mcpServers)).toEqual(SERVERS.map((name) => `fathom-${name}`));
      expect(serve.stderr()).toContain('"command": "node"');

      for (const [index, name] of SERVERS.entries()) {
        const entry = printed.mcpServers[`fathom-${name}`]!;
        expect(entry.url).toBe(`http://127.0.0.1:${base + index}/mcp`);
        const client = new Client({ name: 'e2e', version: '1' });
        await client.connect(new StreamableHTTPClientTransport(new URL(entry.url)));
        expect(client.getServerVersion()?.name).toBe(`fathom-${name}`);
        await client.listTools();
        await client.close();
      }

      const health = (await (await fetch(`http://127.0.0.1:${base + 2}/healthz`)).json()) as { server: string };
      expect(health.server).toBe('files');
      const pids = await childPids(serve.child.pid!);
      expect(pids).toHaveLength(4);
      process.kill(pids[2]!, 'SIGKILL');
      await waitFor(async () => !(await healthy(base + 2)), 5_000, 'files to go down');
      await waitFor(() => healthy(base + 2), 15_000, 'files to come back');
      expect(serve.stderr()).toContain('files exited');

      const current = await childPids(serve.child.pid!);
      serve.child.kill('SIGTERM');
      await serve.exited;
      await waitFor(() => current.every((pid) => !processAlive(pid)), 10_000, 'the servers to stop');
    } finally {
      if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
    }
  }, 60_000);

  it("serve keeps each server's port whatever --servers runs, and takes each server's profile from the config file", async () => {
    const base = await freePorts(4);
    const dir = tempDir('fathom-serve-');
    const config = join(dir, 'fathom.config.json');
    writeFileSync(config, JSON.stringify({ servers: { 'python-sandbox': { profile: 'mirothinker', warmPool: 0 } } }));
    const serve = spawnNode([FATHOM_BIN, 'serve', '--base-port', String(base), '--servers', 'files,python-sandbox', '--config', config]);
    try {
      await waitFor(() => serve.stdout().trim().endsWith('}') && serve.stderr().includes('Ctrl+C'), 30_000, 'fathom serve');
      const printed = JSON.parse(serve.stdout()) as { mcpServers: Record<string, { url: string }> };
      expect(printed.mcpServers).toEqual({
        'fathom-files': { type: 'http', url: `http://127.0.0.1:${base + 2}/mcp` },
        'tool-python': { type: 'http', url: `http://127.0.0.1:${base + 3}/mcp/tool-python` },
      });
      expect(await healthy(base)).toBe(false);
      const health = (await (await fetch(`http://127.0.0.1:${base + 3}/healthz`)).json()) as { server: string };
      expect(health.server).toBe('python-sandbox');
      const stdio = JSON.parse(serve.stderr().split('Over stdio (the host starts each server itself):')[1]!.split('Press Ctrl+C')[0]!) as {
        mcpServers: Record<string, { args: string[] }>;
      };
      expect(stdio.mcpServers['tool-python']!.args).toEqual([FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--config', config, '--endpoint', 'tool-python']);
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  }, 60_000);

  it('serve fails, naming the port, when another process holds one of its ports, even another Fathom server', async () => {
    const base = await freePorts(4);
    const other = spawnNode([serverMain('files'), '--transport', 'http', '--port', String(base + 2)]);
    const squatter = createNetServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(base + 3, '127.0.0.1', resolve));
    try {
      await waitFor(() => healthy(base + 2), 15_000, 'the other files server');
      const run = await fathom(['serve', '--base-port', String(base), '--servers', 'files,python-sandbox'], { FATHOM_WARM_POOL: '0' });
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).not.toContain('Fathom is serving');
      expect(run.stderr).toContain(`files did not start: port ${base + 2} is taken by another process (another fathom files server, pid ${other.child.pid})`);
      expect(run.stderr).toContain(`python-sandbox did not start: port ${base + 3} is taken by another process`);
      expect(run.stderr).toMatch(/Pick another --base-port \(\d+ and the next 3 are free\), or stop that process/);
      // The other server is left alone.
      expect(await healthy(base + 2)).toBe(true);
    } finally {
      other.child.kill('SIGTERM');
      squatter.close();
      await other.exited;
    }
  }, 60_000);

  it('serve refuses FATHOM_PORT and a port in the config file with a sentence saying what to do', async () => {
    const viaEnv = await fathom(['serve', '--servers', 'files'], { FATHOM_PORT: '9000' });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stderr).toContain('FATHOM_PORT sets the port of one server run alone');
    expect(viaEnv.stderr).toContain('--base-port');
    const dir = tempDir('fathom-serve-');
    writeFileSync(join(dir, 'fathom.config.json'), JSON.stringify({ port: 9000 }));
    const viaFile = await fathom(['serve', '--servers', 'files', '--config', join(dir, 'fathom.config.json')]);
    expect(viaFile.code).toBe(2);
    expect(viaFile.stderr).toContain(`"port" in ${join(dir, 'fathom.config.json')} sets the port of one server run alone`);
  });

  it("each server's default port is its port under fathom serve with the default base port", async () => {
    const { BASE_PORT, serverPort } = await import('@fathom/cli');
    for (const name of SERVERS) {
      const { definition } = (await import(`@fathom/${name}`)) as { definition: { defaultPort: number } };
      expect(serverPort(name, BASE_PORT)).toBe(definition.defaultPort);
    }
  });
});

async function childPids(parent: number): Promise<number[]> {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}
