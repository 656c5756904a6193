import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChatClient, FathomError, HttpClient } from '@fathom/core';

type Reply = { status: number; type?: string; body: string };

describe('ChatClient against a fake OpenAI-compatible server', () => {
  const server = createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    request.on('end', () => {
      seen.push({ path: request.url ?? '', accept: request.headers.accept, body: JSON.parse(raw) as Record<string, unknown> });
      const reply = replies.shift() ?? { status: 500, body: 'no reply scripted' };
      response.writeHead(reply.status, { 'content-type': reply.type ?? 'application/json' });
      response.end(reply.body);
    });
  });
  let root = '';
  const seen: Array<{ path: string; accept: string | undefined; body: Record<string, unknown> }> = [];
  let replies: Reply[] = [];
  const whole = (content: string, finish = 'stop'): Reply => ({ status: 200, body: JSON.stringify({ choices: [{ message: { content }, finish_reason: finish }], usage: { prompt_tokens: 3, completion_tokens: 2 } }) });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    root = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen.length = 0;
    replies = [];
  });

  it('sends the body as given and reads an event stream, deltas as they come', async () => {
    const events = ['{"choices":[{"delta":{"content":"Hel"}}]}', '{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}', '[DONE]'];
    replies = [{ status: 200, type: 'text/event-stream', body: events.map((data) => `data: ${data}\n\n`).join('') }];
    const deltas: string[] = [];
    const answer = await new ChatClient({ baseUrl: `${root}/` }).complete({ model: 'm', messages: [], stream: true }, { onDelta: (text) => deltas.push(text) });
    expect(answer).toMatchObject({ content: 'Hello', finishReason: 'stop', attempts: 1 });
    expect(deltas).toEqual(['Hel', 'lo']);
    expect(seen[0]).toEqual({ path: '/v1/chat/completions', accept: 'text/event-stream, application/json', body: { model: 'm', messages: [], stream: true } });
  });

  it('retries what is worth it, asks again with the body retryWith gives, and keeps a full URL as given', async () => {
    replies = [{ status: 503, body: '{"message":"busy"}' }, whole('cut', 'length'), whole('done')];
    const client = new ChatClient({ baseUrl: `${root}/chat/completions`, attempts: 3, retryDelayMs: () => 1 });
    const answer = await client.complete({ model: 'm', n: 1 }, { retryWith: (got) => (got.finishReason === 'length' ? { model: 'm', n: 2 } : undefined) });
    expect(answer).toMatchObject({ content: 'done', attempts: 3, usage: { total_tokens: 5 } });
    expect(seen.map((request) => [request.path, request.body.n, request.accept])).toEqual([
      ['/v1/chat/completions', 1, 'application/json'],
      ['/v1/chat/completions', 1, 'application/json'],
      ['/v1/chat/completions', 2, 'application/json'],
    ]);
  });

  it('words refusals and exhaustion with the hints given, and tries only the kinds retryOn names', async () => {
    replies = [{ status: 401, body: '{"error":{"message":"bad key"}}' }];
    const hinted = new ChatClient({ baseUrl: root, attempts: 3, keyHint: (sent) => (sent ? 'sent' : 'Set THE_KEY.') });
    const refused = await hinted.complete({ model: 'm' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(FathomError);
    expect(refused).toMatchObject({ code: 'forbidden', message: `The model endpoint ${root}/chat/completions refused the request (HTTP 401): bad key. Set THE_KEY.` });

    replies = [{ status: 200, body: 'not json' }, whole('unused')];
    const strict = new ChatClient({ baseUrl: root, attempts: 3, retryOn: ['http'], unavailableHint: 'Start it.' });
    const broken = await strict.complete({ model: 'm' }).catch((error: unknown) => error);
    expect(broken).toMatchObject({ code: 'unavailable', message: `The model endpoint ${root}/chat/completions did not answer after 1 attempt: the answer was neither JSON nor an event stream: not json. Start it.` });
    expect(seen).toHaveLength(2);
  });

  it('goes through a core HttpClient when given one', async () => {
    const http = new HttpClient({ allowPrivateNetwork: true, retries: 0 });
    try {
      replies = [whole('over http')];
      expect((await new ChatClient({ baseUrl: root, http }).complete({ model: 'm' })).content).toBe('over http');
    } finally {
      await http.close();
    }
  });
});
