import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, isFathomError } from '@fathom/core';
import { FATHOM_BIN, ROOT, TEST_CACHE, freePort, healthy, processAlive, serverMain, spawnNode, startHttpServer, waitFor } from '../../tests/helpers.js';
import { defaultAgentConfig } from '../src/config.js';
import type { ServerEntry } from '../src/config.js';
import { Connections } from '../src/mcp.js';
import type { ConnectionEvent } from '../src/mcp.js';

interface ExpectedTool {
  name: string;
  inputSchema: Record<string, unknown>;
}
const trained = JSON.parse(readFileSync(join(ROOT, 'core/protocol/mirothinker-tools.json'), 'utf8')) as {
  servers: { server: string; tools: ExpectedTool[] }[];
};
const trainedTools = (server: string) => trained.servers.find((entry) => entry.server === server)!.tools;

const logger = createLogger('agent-test', { level: 'silent' });
const env = { FATHOM_CACHE_PATH: TEST_CACHE, FATHOM_LOG_LEVEL: 'warn' };
const node = process.execPath;
const python: ServerEntry = {
  command: node,
  args: [FATHOM_BIN, 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python', '--warm-pool', '0'],
  env: {},
};
const files: ServerEntry = { command: node, args: [FATHOM_BIN, 'files'], env: {} };

let dir: string;
let http: Awaited<ReturnType<typeof startHttpServer>>;
const opened: Connections[] = [];

async function open(servers: Record<string, ServerEntry>, onEvent?: (event: ConnectionEvent) => void): Promise<Connections> {
  const connections = await Connections.open(servers, { logger, env, ...(onEvent ? { onEvent } : {}) });
  opened.push(connections);
  return connections;
}

function call(connections: Connections, server: string, tool: string, args: Record<string, unknown> = {}, timeoutMs?: number) {
  return connections.call({ server, tool, arguments: args }, timeoutMs ? { timeoutMs } : {});
}

async function newSandbox(connections: Connections): Promise<string> {
  const created = await call(connections, 'tool-python', 'create_sandbox');
  expect(created.isError).toBe(false);
  const id = /sandbox_id: (\S+)/.exec(created.text)?.[1];
  expect(id).toBeTruthy();
  return id!;
}

/** Every process under `pid`, from the process table; under the processes in `known`, none (they have their own). */
function descendants(pid: number, known: readonly number[] = []): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid === parent) {
        found.push(child);
        if (!known.includes(child)) walk(child);
      }
    }
  };
  walk(pid);
  return found;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-agent-mcp-'));
  http = await startHttpServer('search', ['--profile', 'mirothinker']);
});

afterAll(async () => {
  await Promise.all(opened.map((connections) => connections.close()));
  http?.child.kill();
  await http?.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe('Connections.open', () => {
  it('connects to every server in parallel, over stdio and HTTP, in config order', async () => {
    // Each stdio server notes when it was spawned; one after another, a server would be spawned only after the one before had connected.
    const spawned = join(dir, 'spawned.txt');
    const wrapper = join(dir, 'note-spawn.mjs');
    writeFileSync(wrapper, `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(spawned)}, Date.now() + '\\n');\nprocess.argv.splice(1, 1);\nawait import(process.argv[1]);\n`);
    const noted = (entry: ServerEntry): ServerEntry => ('command' in entry ? { ...entry, args: [wrapper, ...entry.args] } : entry);
    const connected: number[] = [];
    const watching = createLogger('agent-test', {
      level: 'info',
      write: (line) => {
        const entry = JSON.parse(line) as { msg: string; server: string };
        if (entry.msg === 'MCP server connected' && entry.server !== 'search_and_scrape_webpage') connected.push(Date.now());
      },
    });
    const connections = await Connections.open(
      {
        'tool-python': noted(python),
        'fathom-files': noted(files),
        'fathom-files-2': noted(files),
        search_and_scrape_webpage: { url: `http://127.0.0.1:${http.port}/mcp/search_and_scrape_webpage`, headers: {} },
      },
      { logger: watching, env },
    );
    opened.push(connections);
    const spawns = readFileSync(spawned, 'utf8').trim().split('\n').map(Number);
    expect(spawns).toHaveLength(3);
    expect(connected).toHaveLength(3);
    expect(Math.max(...spawns)).toBeLessThan(Math.min(...connected));
    expect(connections.servers().map((server) => server.server)).toEqual(['tool-python', 'fathom-files', 'fathom-files-2', 'search_and_scrape_webpage']);
    expect(connections.servers()[1]!.tools.map((tool) => tool.name)).toContain('read_document');
    expect(connections.pid('tool-python')).toBeGreaterThan(0);
    expect(connections.pid('search_and_scrape_webpage')).toBeUndefined();
  });

  it("keeps each inputSchema's key order as the server sent it, over stdio and over HTTP", async () => {
    const connections = await open({
      'tool-python': python,
      search_and_scrape_webpage: { url: `http://127.0.0.1:${http.port}/mcp/search_and_scrape_webpage`, headers: {} },
    });
    const [pythonTools, searchTools] = connections.servers();
    const runPython = pythonTools!.tools.find((tool) => tool.name === 'run_python_code')!;
    expect(Object.keys(runPython.inputSchema)).toEqual(['properties', 'required', 'type']);
    expect(Object.keys(runPython.inputSchema.properties as object)).toEqual(['code_block', 'sandbox_id']);
    expect(Object.keys((runPython.inputSchema.properties as Record<string, object>).code_block!)).toEqual(['title', 'type']);
    for (const tool of pythonTools!.tools) {
      const expected = trainedTools('tool-python').find((entry) => entry.name === tool.name)!;
      expect(JSON.stringify(tool.inputSchema), tool.name).toBe(JSON.stringify(expected.inputSchema));
    }
    expect(searchTools!.tools.map((tool) => tool.name)).toEqual(['google_search']);
    expect(JSON.stringify(searchTools!.tools[0]!.inputSchema)).toBe(JSON.stringify(trainedTools('search_and_scrape_webpage')[0]!.inputSchema));
  });

  it('applies allow and deny lists, and skips disabled servers', async () => {
    const connections = await open({
      'tool-python': { ...python, tools: { allow: ['create_sandbox', 'run_python_code', 'run_command'], deny: ['run_command'] } },
      'fathom-files': { ...files, tools: { deny: ['list_files', 'convert_to_markdown'] } },
      'fathom-off': { ...files, disabled: true },
    });
    const [pythonTools, filesTools] = connections.servers();
    expect(connections.servers()).toHaveLength(2);
    expect(pythonTools!.tools.map((tool) => tool.name)).toEqual(['create_sandbox', 'run_python_code']);
    const fileToolNames = filesTools!.tools.map((tool) => tool.name);
    expect(fileToolNames).toContain('read_document');
    expect(fileToolNames).not.toContain('list_files');
    expect(fileToolNames).not.toContain('convert_to_markdown');
    const denied = await call(connections, 'fathom-files', 'list_files');
    expect(denied).toMatchObject({ isError: true, text: 'Unknown tool: fathom-files/list_files' });
  });

  it('starts the default configuration: the three servers MiroThinker knows, with their trained tools', async () => {
    const config = defaultAgentConfig({ fathomBin: FATHOM_BIN });
    const connections = await open(config.mcpServers);
    const listed = connections.servers().map((server) => [server.server, server.tools.map((tool) => tool.name)]);
    const hidden = 'download_file_from_sandbox_to_local';
    expect(listed).toEqual(trained.servers.map((server) => [server.server, server.tools.map((tool) => tool.name).filter((name) => name !== hidden)]));
  });

  it('fails with a clear error naming a server that does not start', async () => {
    const error = await Connections.open({ broken: { command: join(dir, 'no-such-server'), args: ['--x'], env: {} } }, { logger, env }).catch((caught: unknown) => caught);
    expect(isFathomError(error, 'unavailable')).toBe(true);
    const failure = error as Error & { hint: string };
    expect(failure.message).toMatch(/^broken did not start: .*ENOENT/);
    expect(failure.hint).toContain(join(dir, 'no-such-server'));
  });

  it('lists every server that failed, with its last stderr lines, and stops those that started', async () => {
    const script = join(dir, 'crash.mjs');
    writeFileSync(script, `process.stderr.write('loading settings\\nfatal: no API key for the thing\\n');\nprocess.exit(3);\n`);
    const before = descendants(process.pid);
    const error = await Connections.open(
      {
        'tool-python': python,
        crashing: { command: node, args: [script], env: {} },
        unreachable: { url: 'http://127.0.0.1:9/mcp', headers: {} },
      },
      { logger, env },
    ).catch((caught: unknown) => caught);
    expect(isFathomError(error, 'unavailable')).toBe(true);
    const failure = error as Error & { hint: string };
    expect(failure.message).toContain('2 MCP servers did not start');
    expect(failure.message).toContain('crashing did not start: the process exited during start-up');
    expect(failure.message).toContain('fatal: no API key for the thing');
    expect(failure.message).toContain('unreachable did not start');
    expect(failure.message).not.toContain('tool-python');
    expect(failure.hint).toContain(`${node} ${script}`);
    expect(failure.hint).toContain('http://127.0.0.1:9/mcp');
    // Servers of other tests, already running, may start processes meanwhile: only what this open started counts.
    await waitFor(() => descendants(process.pid, before).filter((pid) => !before.includes(pid) && processAlive(pid)).length === 0, 10_000, 'the started servers to exit');
  });
});

describe('Connections.call', () => {
  let connections: Connections;
  beforeAll(async () => {
    connections = await open({ 'tool-python': python, 'fathom-files': files });
  });

  it('runs a real call: create_sandbox, then run_python_code', async () => {
    const id = await newSandbox(connections);
    const outcome = await call(connections, 'tool-python', 'run_python_code', { sandbox_id: id, code_block: '1+1' });
    expect(outcome.isError).toBe(false);
    expect(outcome.text).toContain('Execution(Results: [Result(2)]');
    expect(outcome.call.tool).toBe('run_python_code');
    expect(outcome.ms).toBeGreaterThanOrEqual(0);
  });

  it('answers an unknown server or tool with "Unknown tool:"', async () => {
    expect(await call(connections, 'tool-python', 'run_javascript')).toMatchObject({ isError: true, text: 'Unknown tool: tool-python/run_javascript' });
    expect(await call(connections, 'no-server', 'google_search')).toMatchObject({ isError: true, text: 'Unknown tool: no-server/google_search' });
  });

  it("keeps the text of a tool's error result", async () => {
    const outcome = await call(connections, 'fathom-files', 'read_document', { source: join(dir, 'missing.pdf') });
    expect(outcome.isError).toBe(true);
    expect(outcome.text.length).toBeGreaterThan(0);
    expect(outcome.text).not.toMatch(/^Unknown tool/);
  });

  it('turns a protocol error into an outcome', async () => {
    const outcome = await call(connections, 'tool-python', 'run_python_code', { code_block: 42 });
    expect(outcome.isError).toBe(true);
    expect(outcome.text.length).toBeGreaterThan(0);
  });

  it('times out a hanging call with "Error executing tool", and the session stays usable', async () => {
    const id = await newSandbox(connections);
    const hung = await call(connections, 'tool-python', 'run_python_code', { sandbox_id: id, code_block: 'import time; time.sleep(30)' }, 1000);
    expect(hung).toMatchObject({ isError: true, text: 'Error executing tool run_python_code: timed out after 1 s' });
    expect(hung.ms).toBeLessThan(15_000);
    const after = await call(connections, 'tool-python', 'run_python_code', { sandbox_id: id, code_block: '6*7' }, 20_000);
    expect(after.isError).toBe(false);
    expect(after.text).toContain('Result(42)');
  });

  it('answers a cancelled call without throwing', async () => {
    const controller = new AbortController();
    const pending = connections.call(
      { server: 'tool-python', tool: 'run_python_code', arguments: { sandbox_id: 'default', code_block: 'import time; time.sleep(30)' } },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 300);
    expect(await pending).toMatchObject({ isError: true, text: 'Error executing tool run_python_code: the call was cancelled' });
  });
});

describe('a server that dies', () => {
  it('is started again once, the call retried and the event reported; a second death is final', async () => {
    const events: ConnectionEvent[] = [];
    const connections = await open({ 'tool-python': python, 'fathom-files': files }, (event) => events.push(event));
    const first = connections.pid('tool-python')!;
    process.kill(first, 'SIGKILL');
    await waitFor(() => events.some((event) => event.type === 'server_exit'), 10_000, 'the exit to be reported');
    expect(events[0]).toMatchObject({ type: 'server_exit', server: 'tool-python' });

    const id = await newSandbox(connections);
    expect(connections.reconnects('tool-python')).toBe(1);
    expect(events.map((event) => event.type)).toEqual(['server_exit', 'reconnect']);
    const second = connections.pid('tool-python')!;
    expect(second).not.toBe(first);
    const ran = await call(connections, 'tool-python', 'run_python_code', { sandbox_id: id, code_block: '1+1' });
    expect(ran.text).toContain('Result(2)');

    process.kill(second, 'SIGKILL');
    await waitFor(() => events.filter((event) => event.type === 'server_exit').length === 2, 10_000, 'the second exit');
    const gone = await call(connections, 'tool-python', 'create_sandbox');
    expect(gone.isError).toBe(true);
    expect(gone.text).toMatch(/^Error executing tool create_sandbox: tool-python died twice/);
    expect(connections.reconnects('tool-python')).toBe(1);
    const other = await call(connections, 'fathom-files', 'document_info', { source: join(dir, 'missing.txt') });
    expect(other.text).not.toMatch(/died/);
  });

  it('retries a call the server died in the middle of', async () => {
    const events: ConnectionEvent[] = [];
    const connections = await open({ 'tool-python': python }, (event) => events.push(event));
    const pid = connections.pid('tool-python')!;
    const pending = call(connections, 'tool-python', 'run_python_code', { sandbox_id: 'default', code_block: 'import time; time.sleep(1.5); 6*7' });
    setTimeout(() => process.kill(pid, 'SIGKILL'), 500);
    const outcome = await pending;
    expect(outcome.isError).toBe(false);
    expect(outcome.text).toContain('Result(42)');
    expect(events.map((event) => event.type)).toEqual(['server_exit', 'reconnect']);
  });

  it('opens a new HTTP session when the HTTP server was restarted', async () => {
    const port = await freePort();
    const start = async () => {
      const server = spawnNode([serverMain('files'), '--transport', 'http', '--port', String(port)]);
      await waitFor(() => healthy(port), 15_000, 'the files server over HTTP');
      return server;
    };
    const first = await start();
    const events: ConnectionEvent[] = [];
    const connections = await open({ 'fathom-files': { url: `http://127.0.0.1:${port}/mcp`, headers: {} } }, (event) => events.push(event));
    const source = join(dir, 'missing.txt');
    first.child.kill();
    await first.exited;
    const second = await start();
    try {
      const outcome = await call(connections, 'fathom-files', 'document_info', { source });
      expect(outcome.text).not.toMatch(/Error executing tool|died/);
      expect(events.map((event) => event.type)).toEqual(['server_exit', 'reconnect']);
      expect(connections.reconnects('fathom-files')).toBe(1);
    } finally {
      await connections.close();
      second.child.kill();
      await second.exited;
    }
  });

  it('says so, call after call, when a server cannot be started again', async () => {
    const server = await startHttpServer('files');
    const connections = await open({ 'fathom-files': { url: server.url, headers: {} } });
    server.child.kill();
    await server.exited;
    const args = { source: join(dir, 'missing.txt') };
    const first = await call(connections, 'fathom-files', 'document_info', args);
    expect(first.isError).toBe(true);
    expect(first.text).toMatch(/^Error executing tool document_info: fathom-files exited, and starting it again failed: fathom-files did not start: fetch failed/);
    const second = await call(connections, 'fathom-files', 'document_info', args);
    expect(second.text).toBe(first.text);
    expect(connections.reconnects('fathom-files')).toBe(1);
  });
});

describe('Connections.close', () => {
  it('closes every session, leaves no child processes, and can be called twice', async () => {
    const connections = await Connections.open({ 'tool-python': python, 'fathom-files': files }, { logger, env });
    await newSandbox(connections);
    const servers = [connections.pid('tool-python')!, connections.pid('fathom-files')!];
    const all = [...servers, ...servers.flatMap((pid) => descendants(pid))];
    expect(all.length).toBeGreaterThan(2);
    await Promise.all([connections.close(), connections.close()]);
    await connections.close();
    await waitFor(() => all.every((pid) => !processAlive(pid)), 10_000, 'every server process to exit');
    const after = await call(connections, 'tool-python', 'create_sandbox');
    expect(after.isError).toBe(true);
  });
});
