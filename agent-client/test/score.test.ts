import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JUDGE_PROMPT, judgeAnswer, judgePrompt, normalizeNumberStr, normalizeStr, parseVerdict, pythonFloat, scoreAnswer } from '../src/score.js';

describe('scoreAnswer (GAIA question_scorer)', () => {
  it.each([
    ['$1,234.50', '1234.5', true],
    ['1,234', '1234', true],
    ['$ 17', '17', true],
    ['17 ', '17', true],
    ['45%', '45', true],
    ['0.50', '0.5', true],
    ['1e3', '1000', true],
    ['17 km', '17', false],
    ['seventeen', '17', false],
    ['3', '3.0', true],
    ['-2', '-2', true],
    ['2', '3', false],
  ])('number: %j vs truth %j -> %s', (prediction, truth, expected) => {
    expect(scoreAnswer(prediction, truth)).toBe(expected);
  });

  it.each([
    ['1, 2, 3', '1,2,3', true],
    ['$1,000, 2', '1000, 2', false],
    ['1; 2; 3', '1,2,3', true],
    ['1, 2', '1,2,3', false],
    ['3, 2, 1', '1,2,3', false],
    ['Apple, banana , CHERRY', 'apple, banana, cherry', true],
    ['sea gull, cat', 'seagull, cat', true],
    ['apples., cat', 'apples, cat', false],
    ['1.0, b', '1, b', true],
    ['x, 2%', 'x, 2', true],
  ])('list: %j vs truth %j -> %s', (prediction, truth, expected) => {
    expect(scoreAnswer(prediction, truth)).toBe(expected);
  });

  it.each([
    ['Paris.', 'paris', true],
    ["  St. Peter's  Basilica! ", 'st peters basilica', true],
    ['Sea Gull', 'seagull', true],
    ['New-York', 'new york', true],
    ['London', 'Paris', false],
    ['Café', 'cafe', false],
  ])('string: %j vs truth %j -> %s', (prediction, truth, expected) => {
    expect(scoreAnswer(prediction, truth)).toBe(expected);
  });

  it('treats a missing prediction as the string "None", as GAIA does', () => {
    expect(scoreAnswer(undefined, '17')).toBe(false);
    expect(scoreAnswer(undefined, 'a, b')).toBe(false);
    expect(scoreAnswer(undefined, 'None')).toBe(true);
  });

  it('reads numbers the way Python float() does', () => {
    expect(pythonFloat(' 12 ')).toBe(12);
    expect(pythonFloat('1_000')).toBe(1000);
    expect(pythonFloat('1.')).toBe(1);
    expect(pythonFloat('.5')).toBe(0.5);
    expect(pythonFloat('+1.5E-2')).toBe(0.015);
    expect(pythonFloat('-inf')).toBe(-Infinity);
    expect(pythonFloat('NaN')).toBeNaN();
    for (const text of ['', '.', '1__0', '_1', '0x10', '1,5', '12 km', 'e5', 'Infinityy']) expect(pythonFloat(text)).toBeUndefined();
    expect(pythonFloat('١٢')).toBe(12);
    expect(pythonFloat('\u00855\u3000')).toBe(5);
    expect(pythonFloat('\x1c5')).toBeUndefined();
    expect(pythonFloat('\ufeff5')).toBeUndefined();
    expect(normalizeNumberStr('$1,000%')).toBe(1000);
    expect(normalizeNumberStr('about 5')).toBe(Infinity);
    expect(normalizeStr(' A b.C ')).toBe('abc');
    expect(normalizeStr(' A b.C ', false)).toBe('ab.c');
    expect(normalizeStr('a\x1cb\u0085c\ufeff')).toBe('abc\ufeff');
  });
});

describe('parseVerdict', () => {
  it.each([
    ['Correct', true],
    ['Incorrect', false],
    ['**Correct**', true],
    ['incorrect.', false],
    ['<think>Is it correct? maybe</think>\nIncorrect', false],
    ['I cannot tell', undefined],
  ])('%j -> %s', (reply, expected) => {
    expect(parseVerdict(reply)).toBe(expected);
  });
});

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

describe('judgeAnswer against a fake OpenAI-compatible server', () => {
  let server: Server;
  let baseUrl: string;
  const seen: Seen[] = [];
  let reply: (body: Record<string, unknown>) => { status: number; body: string };

  beforeAll(async () => {
    server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      request.on('end', () => {
        const body = JSON.parse(raw) as Record<string, unknown>;
        seen.push({ url: request.url ?? '', headers: request.headers, body });
        const answer = reply(body);
        response.writeHead(answer.status, { 'content-type': 'application/json' });
        response.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen.length = 0;
  });

  const completion = (content: unknown) => ({ status: 200, body: JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }) });

  it('sends one non-streaming, temperature-0 request with MiroThinker’s prompt and parses Correct', async () => {
    reply = () => completion('Correct');
    const verdict = await judgeAnswer('What is the capital of France?', 'Paris, France', 'Paris', { baseUrl: baseUrl + '/', model: 'judge-1', apiKey: 'sk-test' });
    expect(verdict).toEqual({ correct: true, reply: 'Correct' });
    expect(seen).toHaveLength(1);
    const request = seen[0]!;
    expect(request.url).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test');
    expect(request.body).toMatchObject({ model: 'judge-1', temperature: 0, stream: false });
    const messages = request.body.messages as Array<{ role: string; content: string }>;
    expect(messages).toHaveLength(1);
    expect(messages[0]!.role).toBe('user');
    expect(messages[0]!.content).toBe(judgePrompt('What is the capital of France?', 'Paris, France', 'Paris'));
    expect(messages[0]!.content).toContain('Question: What is the capital of France?\n\nLabeled Answer: Paris\n\nPredicted Answer: Paris, France\n');
    expect(messages[0]!.content).toContain('Please respond with "Correct" if they are equivalent, or "Incorrect" if they are not equivalent.');
  });

  it('parses Incorrect and sends no key when none is set', async () => {
    reply = () => completion('Incorrect');
    const verdict = await judgeAnswer('q', 'London', 'Paris', { baseUrl, model: 'judge-1' });
    expect(verdict.correct).toBe(false);
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('leaves the verdict undefined, with a reason, when the judge fails', async () => {
    reply = () => ({ status: 500, body: 'boom' });
    const failed = await judgeAnswer('q', 'a', 'b', { baseUrl, model: 'm', attempts: 2, retryDelayMs: 1 });
    expect(failed.correct).toBeUndefined();
    expect(failed.reason).toMatch(/HTTP 500/);
    expect(seen).toHaveLength(2);

    seen.length = 0;
    reply = () => ({ status: 401, body: '{"error":"bad key"}' });
    const refused = await judgeAnswer('q', 'a', 'b', { baseUrl, model: 'm', attempts: 3, retryDelayMs: 1 });
    expect(refused.correct).toBeUndefined();
    expect(refused.reason).toMatch(/HTTP 401/);
    expect(seen).toHaveLength(1);

    reply = () => completion('Maybe.');
    const vague = await judgeAnswer('q', 'a', 'b', { baseUrl, model: 'm' });
    expect(vague).toMatchObject({ correct: undefined, reason: 'no verdict in the reply', reply: 'Maybe.' });

    reply = () => ({ status: 200, body: 'not json' });
    expect((await judgeAnswer('q', 'a', 'b', { baseUrl, model: 'm' })).correct).toBeUndefined();
  });

  it('retries after a server error and then takes the verdict', async () => {
    let calls = 0;
    reply = () => (++calls === 1 ? { status: 503, body: 'busy' } : completion('Correct'));
    const verdict = await judgeAnswer('q', 'a', 'b', { baseUrl, model: 'm', retryDelayMs: 1 });
    expect(verdict.correct).toBe(true);
    expect(seen).toHaveLength(2);
  });

  it('never throws when nothing listens, and does not ask about a missing answer', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const verdict = await judgeAnswer('q', 'a', 'b', { baseUrl: `http://127.0.0.1:${port}/v1`, model: 'm', attempts: 1 });
    expect(verdict.correct).toBeUndefined();
    expect(verdict.reason).toMatch(/judge request failed/);

    expect(await judgeAnswer('q', undefined, 'b', { baseUrl, model: 'm' })).toEqual({ correct: false, reason: 'no answer' });
    expect(seen).toHaveLength(0);
  });

  it('gives up at the time limit', async () => {
    const slow = createServer(() => {});
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const verdict = await judgeAnswer('q', 'a', 'b', { baseUrl: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/v1`, model: 'm', timeoutMs: 100, attempts: 1 });
      expect(verdict).toEqual({ correct: undefined, reason: 'judge timed out' });
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });

  it('keeps the prompt placeholders MiroThinker fills', () => {
    expect(JUDGE_PROMPT).toContain('{question}');
    expect(JUDGE_PROMPT).toContain('{correct_answer}');
    expect(JUDGE_PROMPT).toContain('{response}');
    expect(judgePrompt('{response}?', 'x', 'y')).toContain('Question: {response}?');
  });
});
