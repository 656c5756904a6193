import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@fathom/core';
import { ModelClient } from '../src/llm.js';
import type { ModelClientOptions } from '../src/llm.js';
import type { ChatMessage, ModelSettings } from '../src/types.js';
import { startModelServer, thinking, toolCallBlock } from '../../tests/fixtures/model-server.js';
import type { ModelServer, ModelServerOptions } from '../../tests/fixtures/model-server.js';
import { fathomFailure } from '@fathom/core/testing';

const logger = createLogger('test', { level: 'silent' });
const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are a research agent.' },
  { role: 'user', content: 'What is 6 * 7?' },
];

let servers: ModelServer[] = [];

afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

async function serve(options: ModelServerOptions = {}): Promise<ModelServer> {
  const server = await startModelServer(options);
  servers.push(server);
  return server;
}

function settings(baseUrl: string, overrides: Partial<ModelSettings> = {}): ModelSettings {
  return {
    baseUrl,
    model: 'miromind-ai/MiroThinker-v1.0-8B',
    temperature: 1.0,
    topP: 0.95,
    maxTokens: 100,
    repetitionPenalty: 1.05,
    contextTokens: 262_144,
    timeoutMs: 2_000,
    retries: 3,
    ...overrides,
  };
}

function clientFor(baseUrl: string, overrides: Partial<ModelSettings> = {}, options: Partial<ModelClientOptions> = {}): ModelClient {
  return new ModelClient(settings(baseUrl, overrides), { logger, backoffMs: 5, maxBackoffMs: 20, ...options });
}


describe('ModelClient requests', () => {
  it('sends the MiroThinker request body and headers', async () => {
    const server = await serve({ script: [{ content: 'ok' }] });
    await clientFor(server.baseUrl, { apiKey: 'sk-test' }).complete(MESSAGES);

    const [request] = server.requests;
    expect(request?.body).toEqual({
      model: 'miromind-ai/MiroThinker-v1.0-8B',
      messages: MESSAGES,
      temperature: 1.0,
      top_p: 0.95,
      max_tokens: 100,
      repetition_penalty: 1.05,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(request?.headers.authorization).toBe('Bearer sk-test');
    expect(request?.headers['content-type']).toBe('application/json');
  });

  it('sends no key without one, tools only when given, and no neutral repetition penalty', async () => {
    const server = await serve({ script: [{ content: 'ok' }] });
    const tools = [{ type: 'function', function: { name: 'search', parameters: { type: 'object' } } }];
    await clientFor(`${server.baseUrl}/`, { repetitionPenalty: 1 }).complete(MESSAGES, { tools, maxTokens: 64 });

    const body = server.requests[0]?.body;
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    expect(body?.tools).toEqual(tools);
    expect(body?.max_tokens).toBe(64);
    expect(body).not.toHaveProperty('repetition_penalty');
  });
});

describe('ModelClient answers', () => {
  it('assembles streamed content, tags split across chunks and multi-byte text included', async () => {
    const content = `${thinking('Zürich, 東京 and 🚀: search first.')}I will search.\n\n${toolCallBlock('search_and_scrape_webpage', 'google_search', { q: 'MiroThinker "72B"' })}`;
    const server = await serve({ script: [{ content }] });
    const deltas: string[] = [];
    const completion = await clientFor(server.baseUrl).complete(MESSAGES, { onDelta: (text) => deltas.push(text) });

    expect(completion.content).toBe(content);
    expect(completion.finishReason).toBe('stop');
    expect(completion.attempts).toBe(1);
    expect(completion.reasoning).toBeUndefined();
    expect(completion.toolCalls).toBeUndefined();
    expect(deltas.join('')).toBe(content);
    expect(deltas.length).toBeGreaterThan(10);
    expect(deltas.some((delta) => delta.includes('<use_mcp_tool>'))).toBe(false);
  });

  it('collects reasoning_content apart from the content', async () => {
    const server = await serve({ script: [{ reasoning: 'Six times seven is forty-two.', content: '\\boxed{42}' }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion.reasoning).toBe('Six times seven is forty-two.');
    expect(completion.content).toBe('\\boxed{42}');
  });

  it('reports the usage of the final chunk', async () => {
    const usage = { prompt_tokens: 120, completion_tokens: 7, total_tokens: 127 };
    const server = await serve({ script: [{ content: '42', usage }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion.usage).toEqual(usage);
    expect(completion.ms).toBeGreaterThanOrEqual(0);
  });

  it('accepts a non-streaming JSON answer', async () => {
    const body = JSON.stringify({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: 'plain', reasoning_content: 'hm' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    });
    const server = await serve({ script: [{ body }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion).toMatchObject({ content: 'plain', reasoning: 'hm', finishReason: 'stop', usage: { total_tokens: 4 }, attempts: 1 });
  });

  it('assembles tool call deltas by index', async () => {
    const toolCalls = [
      { name: 'google_search', arguments: '{"q": "MiroThinker", "gl": "us"}' },
      { name: 'scrape_and_extract_info', arguments: '{"url": "https://example.com", "info_to_extract": "title"}' },
    ];
    const server = await serve({ script: [{ toolCalls }] });
    const tools = [{ type: 'function', function: { name: 'google_search' } }];
    const completion = await clientFor(server.baseUrl).complete(MESSAGES, { tools });

    expect(completion.finishReason).toBe('tool_calls');
    expect(completion.content).toBe('');
    expect(completion.toolCalls).toEqual(
      toolCalls.map((call) => ({ id: expect.stringMatching(/^call_/), type: 'function', function: call })),
    );
    expect(new Set(completion.toolCalls?.map((call) => call.id)).size).toBe(2);
  });
});

describe('ModelClient retries', () => {
  it('retries a 500 and succeeds', async () => {
    const server = await serve({ script: [{ status: 500 }, { content: 'second time' }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion).toMatchObject({ content: 'second time', attempts: 2 });
    expect(server.requests).toHaveLength(2);
  });

  it('waits as long as Retry-After says on a 429', async () => {
    const server = await serve({ script: [{ status: 429, retryAfter: '1' }, { content: 'ok' }] });
    const started = Date.now();
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion.attempts).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('raises max_tokens by 10% after a cut answer and keeps the last cut one', async () => {
    const cut = (content: string) => ({ content, finishReason: 'length' as const });
    const server = await serve({ script: [cut('one'), cut('two'), cut('three')] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);

    expect(server.requests.map((request) => request.body.max_tokens)).toEqual([100, 110, 121]);
    expect(completion).toMatchObject({ content: 'three', finishReason: 'length', attempts: 3 });
  });

  it('returns the first complete answer after a cut one', async () => {
    const server = await serve({ script: [{ content: 'cut', finishReason: 'length' }, { content: 'whole' }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion).toMatchObject({ content: 'whole', finishReason: 'stop', attempts: 2 });
  });

  it('keeps the raised max_tokens within the context the prompt leaves', async () => {
    const usage = { prompt_tokens: 1_000, completion_tokens: 100, total_tokens: 1_100 };
    const server = await serve({ script: [{ content: 'cut', finishReason: 'length', usage }, { content: 'whole' }] });
    await clientFor(server.baseUrl, { contextTokens: 1_105 }).complete(MESSAGES);
    expect(server.requests.map((request) => request.body.max_tokens)).toEqual([100, 105]);
  });

  it('retries a degenerate, repeating answer', async () => {
    const server = await serve({ script: [{ content: `${thinking('hmm')}${'I am stuck. '.repeat(40)}` }, { content: 'fine' }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion).toMatchObject({ content: 'fine', attempts: 2 });
  });

  it('retries a dropped connection', async () => {
    const server = await serve({ script: [{ content: 'a long answer that never ends', dropConnection: true }, { content: 'complete' }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion).toMatchObject({ content: 'complete', attempts: 2 });
  });

  it('retries a stream that ends before the answer is complete', async () => {
    const partial = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'half' }, finish_reason: null }] })}\n\n`;
    const server = await serve({ script: [{ body: partial }, { content: 'whole' }] });
    const completion = await clientFor(server.baseUrl).complete(MESSAGES);
    expect(completion).toMatchObject({ content: 'whole', attempts: 2 });
  });

  it('times out a hanging server on every attempt, then fails with timeout', async () => {
    const server = await serve({ script: [{ hang: true }, { hang: true }] });
    const started = Date.now();
    const error = await fathomFailure(clientFor(server.baseUrl, { timeoutMs: 150, retries: 2 }).complete(MESSAGES));
    const elapsed = Date.now() - started;

    expect(error.code).toBe('timeout');
    expect(error.message).toContain(`${server.baseUrl}/chat/completions`);
    expect(error.message).toContain('2 attempts');
    expect(server.requests).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(8_000);
  });

  it('fails with unavailable after the last 5xx, quoting the server', async () => {
    const server = await serve({ script: [{ status: 503 }, { status: 502, body: '{"message":"upstream worker crashed"}' }] });
    const error = await fathomFailure(clientFor(server.baseUrl, { retries: 2 }).complete(MESSAGES));
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain('HTTP 502: upstream worker crashed');
  });
});

describe('ModelClient failures', () => {
  it('does not retry a 401 and names FATHOM_MODEL_API_KEY', async () => {
    const server = await serve({ script: [{ status: 401, body: '{"error":{"message":"Invalid API key"}}' }, { content: 'unused' }] });
    const error = await fathomFailure(clientFor(server.baseUrl, { apiKey: 'wrong' }).complete(MESSAGES));
    expect(error.code).toBe('forbidden');
    expect(error.message).toContain('FATHOM_MODEL_API_KEY');
    expect(error.message).toContain('Invalid API key');
    expect(server.requests).toHaveLength(1);
  });

  it('turns a 404 into not_found naming the model and the base URL', async () => {
    const server = await serve({ script: [{ status: 404, body: '{"object":"error","message":"The model `x` does not exist.","code":404}' }] });
    const error = await fathomFailure(clientFor(server.baseUrl, { model: 'x' }).complete(MESSAGES));
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('"x"');
    expect(error.message).toContain(server.baseUrl);
    expect(server.requests).toHaveLength(1);
  });

  it('turns a 400 into invalid_argument with the server message', async () => {
    const message = "This model's maximum context length is 262144 tokens. However, you requested 300000 tokens.";
    const server = await serve({ script: [{ status: 400, body: JSON.stringify({ object: 'error', message, code: 400 }) }] });
    const error = await fathomFailure(clientFor(server.baseUrl).complete(MESSAGES));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain(message);
    expect(server.requests).toHaveLength(1);
  });

  it('stops at once when cancelled mid-request', async () => {
    const server = await serve({ script: [{ hang: true }] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const error = await fathomFailure(clientFor(server.baseUrl, { timeoutMs: 10_000 }).complete(MESSAGES, { signal: controller.signal }));
    expect(error.code).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops at once when cancelled while waiting to retry', async () => {
    const server = await serve({ script: [{ status: 500 }, { content: 'unused' }] });
    const controller = new AbortController();
    const started = Date.now();
    const pending = clientFor(server.baseUrl, {}, { backoffMs: 10_000, maxBackoffMs: 10_000 }).complete(MESSAGES, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const error = await fathomFailure(pending);
    expect(error.code).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses to start when already cancelled', async () => {
    const server = await serve({ script: [{ content: 'unused' }] });
    const error = await fathomFailure(clientFor(server.baseUrl).complete(MESSAGES, { signal: AbortSignal.abort() }));
    expect(error.code).toBe('cancelled');
    expect(server.requests).toHaveLength(0);
  });

  it('names the URL when the connection is refused', async () => {
    const closed = await startModelServer();
    const baseUrl = closed.baseUrl;
    await closed.close();
    const error = await fathomFailure(clientFor(baseUrl, { retries: 2 }).complete(MESSAGES));
    expect(error.code).toBe('unavailable');
    expect(error.message).toContain(`${baseUrl}/chat/completions did not answer after 2 attempts`);
    expect(error.message).toContain('ECONNREFUSED');
  });
});

describe('model-server fixture', () => {
  it('answers stream: false with one JSON body and lists its model', async () => {
    const server = await serve({ script: (_request, index) => ({ content: `answer ${index}` }) });
    const response = await fetch(`${server.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: MESSAGES, stream: false }),
    });
    const body = (await response.json()) as { object: string; choices: Array<{ message: { content: string }; finish_reason: string }> };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]).toMatchObject({ message: { content: 'answer 0' }, finish_reason: 'stop' });

    const models = (await (await fetch(`${server.baseUrl}/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data[0]?.id).toBe('miromind-ai/MiroThinker-v1.0-8B');
    expect(server.turns).toHaveLength(1);
  });

  it('takes queued turns before the script function', async () => {
    const server = await serve({ script: () => ({ content: 'from the function' }) });
    server.scripted({ content: 'queued' });
    const client = clientFor(server.baseUrl);
    expect((await client.complete(MESSAGES)).content).toBe('queued');
    expect((await client.complete(MESSAGES)).content).toBe('from the function');
  });
});
