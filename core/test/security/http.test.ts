import { connect as connectSocket } from 'node:net';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { textOf } from '../../src/testing.js';
import { abortedWaits, connectHttp, hostsClosedAfterEach, startWait } from './fixtures.js';

const host = hostsClosedAfterEach();

interface RawAnswer {
  status: number;
  body: string;
}

/** Sends `request` byte for byte over a socket and reads the answer until the server closes it. */
function raw(port: number, request: string, waitMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connectSocket(port, '127.0.0.1', () => socket.write(request));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${waitMs} ms (got ${JSON.stringify(received)})`));
    }, waitMs);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
      resolve({ status, body: received.slice(received.indexOf('\r\n\r\n') + 4) });
    });
  });
}

/**
 * A client that sends `head` and then `trickle` one byte every 100 ms, forever. Resolves with
 * what the server answered once it closes the connection.
 */
function slowClient(port: number, head: string, trickle: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectSocket(port, '127.0.0.1', () => socket.write(head));
    let received = '';
    let next = 0;
    const drip = setInterval(() => {
      if (socket.writable) socket.write(trickle[next++ % trickle.length]!);
    }, 100);
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(drip);
      resolve(received);
    });
  });
}

describe('malformed request paths', () => {
  it.each([
    ['GET', '/mcp/%E0%A4%A'],
    ['POST', '/mcp/%'],
  ])('answers %s %s with 400 and a JSON-RPC error at once', async (method, path) => {
    const server = await host();
    const body = method === 'POST' ? '{"jsonrpc":"2.0","id":1,"method":"ping"}' : '';
    const answer = await raw(
      server.port,
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer.status).toBe(400);
    const error = (JSON.parse(answer.body) as { error: { code: number; message: string } }).error;
    expect(error.code).toBe(-32600);
    expect(error.message).toMatch(/not valid percent-encoding/);

    const witness = await connectHttp(server.url);
    expect((await witness.client.listTools()).tools.map((tool) => tool.name)).toEqual(['wait']);
    await witness.client.close();
  });
});

describe('slow clients', () => {
  it('closes connections that send headers or a body too slowly; SSE streams and long calls carry on', async () => {
    const server = await host({ 'headers-timeout-seconds': '1', 'request-timeout-seconds': '2' });
    const witness = await connectHttp(server.url);
    const noted = new Promise<unknown>((resolve) =>
      witness.client.setNotificationHandler(LoggingMessageNotificationSchema, (note) => resolve(note.params.data)),
    );

    const slowHeaders = Array.from({ length: 10 }, () =>
      slowClient(server.port, `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nX-Slow: `, 'abcdef'),
    );
    const slowBodies = Array.from({ length: 10 }, () =>
      slowClient(
        server.port,
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nContent-Type: application/json\r\n` +
          `Accept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n{`,
        '"padding": "xxxx", ',
      ),
    );

    // A call that lasts longer than the request limit, over a session whose SSE stream stays open.
    const long = await witness.client.callTool({ name: 'wait', arguments: { seconds: 3, label: 'witness' } });
    expect(textOf(long)).toBe('waited 3 s witness');

    const answers = await Promise.all([...slowHeaders, ...slowBodies]);
    for (const answer of answers) expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true);
    for (const answer of answers.slice(10)) {
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(answer).toContain('"code":-32600');
      expect(answer).toMatch(/the whole request within 2 s/);
    }
    expect(await noted).toBe('waited witness');
    expect((await witness.client.listTools()).tools).toHaveLength(1);
    await witness.client.close();
  });
});

describe('closing a session', () => {
  it('answers the calls in flight in a session the client deletes; other sessions carry on', async () => {
    const server = await host();
    const doomed = await connectHttp(server.url);
    const other = await connectHttp(server.url);
    const lost = startWait(doomed.client, 600, 'deleted-session');
    const kept = startWait(other.client, 2, 'kept-session');
    await Promise.all([lost.running, kept.running]);

    await doomed.transport.terminateSession();
    const answer = await lost.result;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toBe(
      'The client closed the session (HTTP DELETE); the call was not completed: retry on a new connection.',
    );
    expect(abortedWaits).toContain('deleted-session');

    const result = await kept.result;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('waited 2 s kept-session');
    expect(abortedWaits).not.toContain('kept-session');
    expect(server.sessions()).toBe(1);
    await Promise.all([doomed.client.close(), other.client.close()]);
  });
});

describe('idle sessions', () => {
  it('keeps a session alive while its call runs past the idle limit, and closes it once it is really idle', async () => {
    // 0.01 minutes: 600 ms without a request and with nothing in flight.
    const server = await host({ 'session-idle-minutes': '0.01' });
    const busy = await connectHttp(server.url);
    const call = startWait(busy.client, 2, 'outlasts-idle');
    await call.running;
    const result = await call.result;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('waited 2 s outlasts-idle');
    expect(abortedWaits).not.toContain('outlasts-idle');
    // Once the client lets go of everything, the session goes.
    await busy.client.close();
    const deadline = Date.now() + 15_000;
    while (server.sessions() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.sessions()).toBe(0);
  });
});
