import { Client as Client2026, StreamableHTTPClientTransport as HttpTransport2026 } from '@modelcontextprotocol/client';
import type { Transport as Transport2026 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransport2026 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { textOf } from '../../src/testing.js';
import { ROOT, TEST_CACHE, freePort, healthy, spawnNode, waitFor } from '../../../tests/helpers.js';
import { connectHttp, startWait } from './fixtures.js';

const FIXTURE = `${ROOT}tests/fixtures/slow-server.mjs`;
const SHUTDOWN = 'The server is shutting down (SIGTERM); the call was not completed: retry on a new connection.';

describe('SIGTERM with calls in flight', () => {
  it('answers every call in flight over HTTP, in every session, then exits', async () => {
    const port = await freePort();
    const server = spawnNode([FIXTURE, '--transport', 'http', '--port', String(port)]);
    await waitFor(() => healthy(port), 15_000, 'the fixture server');
    const url = `http://127.0.0.1:${port}/mcp`;
    const first = await connectHttp(url);
    const second = await connectHttp(url);
    expect(textOf(await second.client.callTool({ name: 'wait', arguments: { seconds: 0, label: 'before' } }))).toBe('waited 0 s before');

    const calls = [startWait(first.client, 600, 'first'), startWait(first.client, 600, 'first-again'), startWait(second.client, 600, 'second')];
    await Promise.all(calls.map((call) => call.running));
    server.child.kill('SIGTERM');
    for (const call of calls) {
      const answer = await call.result;
      expect(answer.isError).toBe(true);
      expect(textOf(answer)).toBe(SHUTDOWN);
    }
    expect((await server.exited).code).toBe(0);
    await Promise.all([first.client.close(), second.client.close()]);
  });

  it('answers the call in flight over stdio, then exits', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [FIXTURE],
      env: { ...process.env, FATHOM_LOG_LEVEL: 'warn', FATHOM_CACHE_PATH: TEST_CACHE } as Record<string, string>,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'security-test', version: '0' });
    const closed = new Promise<void>((resolve) => (client.onclose = resolve));
    await client.connect(transport);
    expect(textOf(await client.callTool({ name: 'wait', arguments: { seconds: 0, label: 'before' } }))).toBe('waited 0 s before');

    const call = startWait(client, 600, 'stdio');
    await call.running;
    process.kill(transport.pid!, 'SIGTERM');
    const answer = await call.result;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toBe(SHUTDOWN);
    await closed;
  });
});

/** A 2026-07-28 client (SDK v2, pinned to that era) and a `wait` call of its own, like startWait's. */
async function connect2026(transport: Transport2026) {
  const client = new Client2026({ name: 'security-test-2026', version: '0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(transport);
  expect(client.getProtocolEra()).toBe('modern');
  const wait = (seconds: number, label: string) => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const result = client.callTool({ name: 'wait', arguments: { seconds, label } }, { onprogress: () => started(), timeout: 30_000 });
    return { running, result };
  };
  return { client, wait };
}

describe('SIGTERM with 2026-era calls in flight', () => {
  it('answers every call in flight over HTTP, each its own request, then exits', async () => {
    const port = await freePort();
    const server = spawnNode([FIXTURE, '--transport', 'http', '--port', String(port)]);
    await waitFor(() => healthy(port), 15_000, 'the fixture server');
    const { client, wait } = await connect2026(new HttpTransport2026(new URL(`http://127.0.0.1:${port}/mcp`)));
    expect(textOf(await client.callTool({ name: 'wait', arguments: { seconds: 0, label: 'before' } }))).toBe('waited 0 s before');

    const calls = [wait(600, 'one'), wait(600, 'two')];
    await Promise.all(calls.map((call) => call.running));
    server.child.kill('SIGTERM');
    for (const call of calls) {
      const answer = await call.result;
      expect(answer.isError).toBe(true);
      expect(textOf(answer)).toBe(SHUTDOWN);
    }
    expect((await server.exited).code).toBe(0);
    await client.close();
  });

  it('answers the call in flight over stdio, then exits', async () => {
    const transport = new StdioTransport2026({
      command: process.execPath,
      args: [FIXTURE],
      env: { ...process.env, FATHOM_LOG_LEVEL: 'warn', FATHOM_CACHE_PATH: TEST_CACHE } as Record<string, string>,
      stderr: 'pipe',
    });
    const { client, wait } = await connect2026(transport);
    const closed = new Promise<void>((resolve) => (client.onclose = resolve));
    const call = wait(600, 'stdio');
    await call.running;
    process.kill(transport.pid!, 'SIGTERM');
    const answer = await call.result;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toBe(SHUTDOWN);
    await closed;
  });
});
