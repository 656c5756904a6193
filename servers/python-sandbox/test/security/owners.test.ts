import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectInMemory, textOf } from '@fathom/core/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHttpServer, waitFor } from '../../../../tests/helpers.js';
import { createServer, definition } from '../../src/server.js';
import { call, connect, describeBwrap, newSession, sandboxConfig, sandboxPids, testDirs } from '../helpers.js';
import type { TestDirs } from '../helpers.js';

let dirs: TestDirs;

beforeAll(() => {
  dirs = testDirs('fathom-sandbox-owners-');
});

afterAll(async () => {
  await definition.shutdown();
});

describeBwrap('python-sandbox sandboxes belong to the client that made them (bwrap)', () => {
  it('holds the live-sandbox cap when creates arrive at once', async () => {
    const connection = await connect(sandboxConfig(dirs, { 'max-live-sessions': '3', 'warm-pool': '0' }));
    const created = await Promise.all(Array.from({ length: 8 }, () => call(connection, 'python_create_session', {})));
    expect(created.filter((result) => !result.isError)).toHaveLength(3);
    expect(created.filter((result) => result.isError).map((result) => result.text)).toEqual(Array(5).fill(expect.stringContaining('All 3 sandboxes this server allows are in use')));
    await connection.close();
  });

  it("gives another client's sandbox id 'no such sandbox', in both profiles, and leaves the sandbox alone", async () => {
    const config = sandboxConfig(dirs, { 'enable-download-to-local': 'true' });
    const alice = await connect(config);
    const mallory = await connect(config);
    const id = await newSession(alice);
    await call(alice, 'python_run', { session_id: id, code: 'secret = 42\nopen("secret.txt", "w").write("alice")' });
    for (const [tool, args] of [
      ['python_run', { code: 'secret' }],
      ['shell_run', { command: 'cat secret.txt' }],
      ['sandbox_read_file', { path: 'secret.txt' }],
      ['sandbox_list_files', {}],
      ['sandbox_write_file', { path: 'secret.txt', content: 'mallory' }],
      ['sandbox_export', { path: 'secret.txt' }],
    ] as const) {
      const attempt = await call(mallory, tool, { session_id: id, ...args });
      expect(attempt.isError, tool).toBe(true);
      expect(attempt.text, tool).toContain(`No sandbox with id "${id}"`);
    }
    expect((await call(mallory, 'python_close_session', { session_id: id })).text).toBe(`No open session ${id} (already closed or expired).`);
    expect((await call(alice, 'python_run', { session_id: id, code: 'secret, open("secret.txt").read()' })).structured?.value).toBe("(42, 'alice')");

    const trained = sandboxConfig(dirs, { profile: 'mirothinker', 'enable-download-to-local': 'true' });
    const model = await connect(trained);
    const intruder = await connect(trained);
    const created = textOf(await model.client.callTool({ name: 'create_sandbox', arguments: {} }));
    const sandbox = /sandbox_id: (\S+)/.exec(created)![1]!;
    for (const [tool, args] of [
      ['run_python_code', { code_block: '1 + 1' }],
      ['run_command', { command: 'id' }],
      ['download_file_from_sandbox_to_local', { sandbox_file_path: '/home/user/x' }],
    ] as const) {
      const attempt = textOf(await intruder.client.callTool({ name: tool, arguments: { sandbox_id: sandbox, ...args } }));
      expect(attempt, tool).toBe(`[ERROR]: Failed to connect to sandbox ${sandbox}. Make sure the sandbox is created and the sandbox_id is correct.`);
    }
    expect(textOf(await model.client.callTool({ name: 'run_python_code', arguments: { sandbox_id: sandbox, code_block: '1 + 1' } }))).toContain('Result(2)');
    for (const connection of [alice, mallory, model, intruder]) await connection.close();
  });

  it('closes the sandboxes of a client when it disconnects, freeing the cap', async () => {
    const config = sandboxConfig(dirs, { 'max-live-sessions': '1', 'warm-pool': '0' });
    const first = await connectInMemory(await createServer(config));
    const id = await newSession(first);
    expect(sandboxPids(id).length).toBeGreaterThan(0);
    await first.close();
    await waitFor(() => sandboxPids(id).length === 0, 15_000, 'the sandbox of the closed client to stop');
    const second = await connect(config);
    expect((await call(second, 'python_create_session', {})).isError).toBe(false);
    await second.close();
  });

  it('closes the sandboxes of an HTTP session when the session ends, and refuses its ids to others', async () => {
    const server = await startHttpServer('python-sandbox', ['--max-live-sessions', '1', '--warm-pool', '0', '--state-dir', dirs.state, '--cache-mode', 'off']);
    try {
      const first = new StreamableHTTPClientTransport(new URL(server.url));
      const alice = new Client({ name: 'alice', version: '0' });
      await alice.connect(first);
      const created = await alice.callTool({ name: 'python_create_session', arguments: {} });
      const id = (created.structuredContent as { session_id: string }).session_id;
      const bob = new Client({ name: 'bob', version: '0' });
      await bob.connect(new StreamableHTTPClientTransport(new URL(server.url)));
      const foreign = await bob.callTool({ name: 'python_run', arguments: { session_id: id, code: '1' } });
      expect(textOf(foreign)).toContain(`No sandbox with id "${id}"`);
      expect(textOf(await bob.callTool({ name: 'python_create_session', arguments: {} }))).toContain('All 1 sandboxes this server allows are in use');
      await first.terminateSession();
      await alice.close();
      await waitFor(() => sandboxPids(id, server.child.pid).length === 0, 15_000, "the ended session's sandbox to stop");
      expect((await bob.callTool({ name: 'python_create_session', arguments: {} })).isError).toBeFalsy();
      await bob.close();
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 60_000);
});
