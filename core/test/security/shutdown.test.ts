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
