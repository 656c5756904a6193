import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawToolList, rawToolList2026, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { createServer, definition } from '../src/server.js';
import { call, connect, describeBwrap, sandboxConfig, testDirs } from './helpers.js';
import type { TestDirs } from './helpers.js';

interface TrainedTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
}

const toolPython = (
  JSON.parse(readFileSync(new URL('../../../core/protocol/mirothinker-tools.json', import.meta.url), 'utf8')) as {
    servers: { server: string; tools: TrainedTool[]; releases: Record<string, { tools: TrainedTool[] }> }[];
  }
).servers.find((server) => server.server === 'tool-python')!;
const trained = toolPython.tools;
const listed = (tools: TrainedTool[]) => tools.map(({ name, description, inputSchema, outputSchema }) => ({ name, description, inputSchema, outputSchema }));

let dirs: TestDirs;
let connection: InMemoryConnection;
let config: Config;

async function text(name: string, args: Record<string, unknown>): Promise<string> {
  const result = await call(connection, name, args);
  expect(result.isError).toBe(false);
  return result.text;
}

async function createSandbox(): Promise<string> {
  const created = await text('create_sandbox', {});
  // `<replica>.<the backend's id>` on a named replica (`sbx_…` alone otherwise, as the agent tests pin).
  expect(created).toMatch(/^Sandbox created with sandbox_id: r1\.sbx_[0-9a-f]{20}$/);
  return created.split(': ')[1]!;
}

beforeAll(async () => {
  dirs = testDirs('fathom-sandbox-mirothinker-');
  writeFileSync(join(dirs.roots, 'input.txt'), 'uploaded text');
  config = sandboxConfig(dirs, { profile: 'mirothinker', 'enable-download-to-local': 'true', 'replica-id': 'r1' });
  connection = await connect(config);
});

afterAll(async () => {
  await connection?.close();
  await definition.shutdown();
});

describeBwrap('python-sandbox mirothinker profile (bwrap)', () => {
  it('advertises exactly the trained tools: names, descriptions and schemas in their key order', async () => {
    const { tools } = await connection.client.listTools();
    expect(listed(tools as TrainedTool[])).toEqual(trained);
    const wire = await rawToolList(await createServer(config));
    expect(wire.map((tool) => JSON.stringify({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema, outputSchema: tool.outputSchema }))).toEqual(
      trained.map((tool) => JSON.stringify(tool)),
    );
    // A 2026-era request gets the same tools, byte for byte.
    expect(JSON.stringify(await rawToolList2026(() => createServer(config)))).toBe(JSON.stringify(wire));
  });

  it('lists the tools as fastmcp 2.10.1 does: dedented docstrings, no schema title, the wrapped str output', async () => {
    const { tools } = await connection.client.listTools();
    for (const tool of tools) {
      expect(tool.description).not.toMatch(/^\s|\s$|\n {4}Args:/);
      expect(tool.inputSchema).not.toHaveProperty('title');
      expect(tool.inputSchema).not.toHaveProperty('additionalProperties');
      expect(tool.outputSchema).toEqual({
        properties: { result: { title: 'Result', type: 'string' } },
        required: ['result'],
        title: '_WrappedResult',
        type: 'object',
        'x-fastmcp-wrap-result': true,
      });
    }
    expect(tools.find((tool) => tool.name === 'create_sandbox')!.description).toBe(
      'Create a linux sandbox.\n\nArgs:\n    timeout: Time in seconds before the sandbox is automatically shutdown. The default is 600 seconds.\n\n' +
        'Returns:\n    The sandbox_id of the newly created sandbox. You should use this sandbox_id to run other tools in the sandbox.',
    );
    const created = await connection.client.callTool({ name: 'create_sandbox', arguments: {} });
    expect(created.structuredContent).toEqual({ result: textOf(created) });
  });

  it('serves the v1.0 release when asked: its create_sandbox schema, and made-up ids refused', async () => {
    const old = await connect(sandboxConfig(dirs, { profile: 'mirothinker', 'mirothinker-release': 'v1.0', 'warm-pool': '0' }));
    const { tools } = await old.client.listTools();
    const v1 = toolPython.releases['v1.0']!.tools;
    expect(v1.map((tool) => tool.name)).toEqual(['create_sandbox']);
    expect(v1[0]!.inputSchema).toEqual({ properties: { timeout: { default: 600, title: 'Timeout' } }, type: 'object' });
    expect(listed(tools as TrainedTool[])).toEqual(
      trained.filter((tool) => tool.name !== 'download_file_from_sandbox_to_local').map((tool) => v1.find((changed) => changed.name === tool.name) ?? tool),
    );
    expect((await call(old, 'run_python_code', { sandbox_id: 'default', code_block: '1' })).text).toBe(
      "[ERROR]: 'default' is not a valid sandbox_id. Please create a real sandbox first using the create_sandbox tool.",
    );
    await old.close();
  });

  it('hides download_file_from_sandbox_to_local unless enabled', async () => {
    const plain = await connect(sandboxConfig(dirs, { profile: 'mirothinker' }));
    const { tools } = await plain.client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(trained.map((tool) => tool.name).filter((name) => name !== 'download_file_from_sandbox_to_local'));
    await plain.close();
  });

  it("prints run_python_code results as E2B's Execution repr, keeping state", async () => {
    const id = await createSandbox();
    expect(await text('run_python_code', { sandbox_id: id, code_block: "print('hi')\nx = 2\nx + 2" })).toBe(
      "Execution(Results: [Result(4)], Logs: Logs(stdout: ['hi\\n'], stderr: []), Error: None)",
    );
    expect(await text('run_python_code', { sandbox_id: id, code_block: 'print("a\\nb")\nimport sys\nprint("it\'s", file=sys.stderr)\nx' })).toBe(
      `Execution(Results: [Result(2)], Logs: Logs(stdout: ['a\\nb\\n'], stderr: ["it's\\n"]), Error: None)`,
    );
    const failed = await text('run_python_code', { sandbox_id: id, code_block: '1/0' });
    expect(failed).toMatch(
      /^Execution\(Results: \[\], Logs: Logs\(stdout: \[\], stderr: \[\]\), Error: ExecutionError\(name='ZeroDivisionError', value='division by zero', traceback='Traceback \(most recent call last\):\\n {2}File "<cell-3>", line 1, in <module>\\n.*ZeroDivisionError: division by zero\\n'\)\)$/,
    );
    const plot = await text('run_python_code', { sandbox_id: id, code_block: 'import matplotlib.pyplot as plt\nplt.plot([1, 2])\nNone' });
    expect(plot).toBe('Execution(Results: [Result(<Figure size 640x480 with 1 Axes>)], Logs: Logs(stdout: [], stderr: []), Error: None)');
  });

  it('says after a failed connection that the sandbox has no network, naming download_file_from_internet_to_sandbox', async () => {
    const id = await createSandbox();
    const failed = await text('run_python_code', { sandbox_id: id, code_block: 'import requests\nrequests.get("http://127.0.0.1:9/data.csv")' });
    expect(failed).toMatch(/^Execution\(Results: \[\], Logs: Logs\(stdout: \[\], stderr: \[\]\), Error: ExecutionError\(name='ConnectionError', .*Connection refused.*\)\)\n\n\[NOTE\]: [^\n]+$/);
    expect(failed.split('\n\n[NOTE]: ')[1]).toBe(
      'The sandbox has no network access: fetch the file with download_file_from_internet_to_sandbox instead, then read it from /home/user.',
    );
    expect(await text('run_python_code', { sandbox_id: id, code_block: 'open("missing.csv")' })).not.toContain('[NOTE]');
  });

  it('cuts stdout into the messages ipykernel sends: a flush or 0.2 s after the first write ends one', async () => {
    const id = await createSandbox();
    const stdout = async (code_block: string) => /Logs\(stdout: (\[.*?\]), stderr: /s.exec(await text('run_python_code', { sandbox_id: id, code_block }))?.[1];
    expect(await stdout("print('a')\nprint('b')")).toBe("['a\\nb\\n']");
    expect(await stdout('for i in range(3): print(i, flush=True)')).toBe("['0\\n', '1\\n', '2\\n']");
    expect(await stdout("import sys, time\nprint('a', end='')\nprint('b')\ntime.sleep(0.3)\nsys.stdout.write('c\\n')\nsys.stdout.writelines(['d\\n', 'é\\n'])")).toBe(
      "['ab\\n', 'c\\nd\\né\\n']",
    );
    const mixed = await stdout("import subprocess\nprint('a')\nsubprocess.run(['echo', 'child'])");
    expect(mixed).toMatch(/^\['(a\\nchild\\n|child\\na\\n)'\]$/);
  });

  it('cuts results at 20,000 characters', async () => {
    const id = await createSandbox();
    const long = await text('run_python_code', { sandbox_id: id, code_block: "print('x' * 30000)" });
    expect(long.length).toBe(20_000 + ' [Result truncated due to length limit]'.length);
    expect(long.endsWith('x [Result truncated due to length limit]')).toBe(true);
  });

  it("prints run_command results as E2B's CommandResult, and failures as the trained error", async () => {
    const id = await createSandbox();
    expect(await text('run_command', { sandbox_id: id, command: 'echo hi; pwd' })).toBe("CommandResult(stderr='', stdout='hi\\n/home/user\\n', exit_code=0, error='')");
    expect(await text('run_command', { sandbox_id: id, command: 'echo bad >&2; exit 2' })).toBe(
      '[ERROR]: Failed to run command after 3 attempts.\n\nException type: CommandExitException\nDetails: Command exited with code 2 and error:\nbad\n',
    );
  });

  it('answers made-up sandbox ids as MiroThinker does', async () => {
    expect(await text('run_command', { sandbox_id: 'default', command: 'ls' })).toBe(
      "[ERROR]: 'default' is not a valid sandbox_id. Please create a real sandbox first using the create_sandbox tool.",
    );
    expect(await text('run_python_code', { sandbox_id: 'sandbox', code_block: '1 + 1' })).toBe(
      'Execution(Results: [Result(2)], Logs: Logs(stdout: [], stderr: []), Error: None)',
    );
    expect(await text('run_python_code', { sandbox_id: 'sbx_doesnotexist', code_block: '1' })).toBe(
      '[ERROR]: Failed to connect to sandbox sbx_doesnotexist. Make sure the sandbox is created and the sandbox_id is correct.',
    );
    const ours = `r1.sbx_${'0'.repeat(20)}`;
    expect(await text('run_python_code', { sandbox_id: ours, code_block: '1' })).toBe(
      `[ERROR]: Failed to connect to sandbox ${ours}. Make sure the sandbox is created and the sandbox_id is correct.`,
    );
    // An id another replica behind a balancer handed out: the trained line, with why and what to do.
    expect(await text('run_command', { sandbox_id: 'r9.sbx_0123', command: 'ls' })).toBe(
      '[ERROR]: Failed to connect to sandbox r9.sbx_0123. Sandbox r9.sbx_0123 was opened on replica r9; this is replica ' +
        'r1: the balancer sent the request elsewhere (the replica may have stopped, and its sandboxes with it: the state is lost). ' +
        'Please create a new sandbox using the create_sandbox tool.',
    );
  });

  it('runs code for a made-up id statelessly, in a sandbox closed after the run, with MiroThinker\'s stateless error', async () => {
    expect(await text('run_python_code', { sandbox_id: 'default', code_block: 'kept = 5\nkept' })).toBe(
      'Execution(Results: [Result(5)], Logs: Logs(stdout: [], stderr: []), Error: None)',
    );
    const again = await text('run_python_code', { sandbox_id: 'default', code_block: 'kept' });
    expect(again).toContain("Error: ExecutionError(name='NameError', value=\"name 'kept' is not defined\"");
    const single = await connect(sandboxConfig(dirs, { profile: 'mirothinker', 'max-live-sessions': '1', 'warm-pool': '0' }));
    expect((await call(single, 'create_sandbox', {})).text).toMatch(/^Sandbox created with sandbox_id: /);
    expect((await call(single, 'run_python_code', { sandbox_id: '', code_block: '1' })).text).toBe(
      '[ERROR]: Failed to run code in stateless mode. Exception type: rate_limited, Details: All 1 sandboxes this server allows are in use',
    );
    await single.close();
  });

  it('uploads, downloads and copies files with the trained result strings', async () => {
    const id = await createSandbox();
    expect(await text('upload_file_from_local_to_sandbox', { sandbox_id: id, local_file_path: join(dirs.roots, 'input.txt') })).toBe(
      'File uploaded to /home/user/input.txt',
    );
    expect(await text('upload_file_from_local_to_sandbox', { sandbox_id: id, local_file_path: join(dirs.roots, 'missing.txt') })).toBe(
      `[ERROR]: Local file does not exist: ${join(dirs.roots, 'missing.txt')}`,
    );
    const blocked = await text('download_file_from_internet_to_sandbox', { sandbox_id: id, url: 'http://127.0.0.1:9/file.csv' });
    expect(blocked).toMatch(/^\[ERROR\]: Failed to download file from http:\/\/127\.0\.0\.1:9\/file\.csv: .*(private|loopback)/i);
    await text('run_command', { sandbox_id: id, command: 'echo result > answer.txt' });
    const downloaded = await text('download_file_from_sandbox_to_local', { sandbox_id: id, sandbox_file_path: '/home/user/answer.txt' });
    const local = /^File downloaded successfully to: (.+)$/.exec(downloaded)?.[1];
    expect(local).toMatch(new RegExp(`^${dirs.output}/sandbox_[0-9a-f]{12}_answer\\.txt$`));
    expect(local).not.toContain(id.slice(4));
    expect(readFileSync(local!, 'utf8')).toBe('result\n');
    expect(await text('download_file_from_sandbox_to_local', { sandbox_id: id, sandbox_file_path: '/home/user/nothing.txt' })).toBe(
      `[ERROR]: Cannot download '/home/user/nothing.txt' from sandbox ${id}: file does not exist.`,
    );
    expect(await text('download_file_from_sandbox_to_local', { sandbox_id: id, sandbox_file_path: '/home/user' })).toBe(
      `[ERROR]: Cannot download '/home/user' from sandbox ${id}: path is a directory, not a file.`,
    );
  });

  it('says when a run hit the time limit, inside the Execution text', async () => {
    const fast = await connect(sandboxConfig(dirs, { profile: 'mirothinker', 'call-timeout-seconds': '1', 'warm-pool': '0' }));
    const created = await call(fast, 'create_sandbox', { timeout: 60 });
    const id = created.text.split(': ')[1]!;
    const stuck = await call(fast, 'run_python_code', { sandbox_id: id, code_block: "print('start', flush=True)\nwhile True: pass" });
    expect(stuck.text).toMatch(/^Execution\(Results: \[\], Logs: Logs\(stdout: \['start\\n'\], stderr: \[\]\), Error: ExecutionError\(name='TimeoutError', value='The run exceeded its 1 s time limit/);
    await fast.close();
  });
});
