import { FathomError, HttpClient, createLogger, mirothinkerPrompts, stripThinking } from '@fathom/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startExtractionModel } from '../../../tests/fixtures/extraction-model.js';
import type { ExtractionModel, ExtractionModelOptions } from '../../../tests/fixtures/extraction-model.js';
import { configSchema } from '../src/config.js';
import { Extractor, PASSAGES_MODEL } from '../src/extract.js';

const logger = createLogger('test', { level: 'silent' });
const TEMPLATE = mirothinkerPrompts().extract_info_prompt as string;

function filled(question: string, content: string): string {
  const [head, middle, tail] = TEMPLATE.split('{}');
  return head! + question + middle! + content + tail!;
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((item) => item.close()));
});

async function model(options: ExtractionModelOptions = {}): Promise<ExtractionModel> {
  const started = await startExtractionModel(options);
  open.push(started);
  return started;
}

function extractor(settings: Record<string, unknown>, http?: HttpClient): Extractor {
  const instance = new Extractor({ config: configSchema.parse(settings), logger, ...(http ? { http } : {}) });
  open.push(instance);
  return instance;
}

/** A long synthetic report; one paragraph, deep inside, answers the question. */
function report(): string {
  const sections: string[] = ['# Annual report of the Northern Rail Company'];
  for (let i = 1; i <= 60; i++) {
    sections.push(`## Chapter ${i}`);
    sections.push(
      `In chapter ${i} the board reviewed rolling stock, staffing and the timetable for the coming season. ` +
        'Passenger numbers grew slowly while maintenance costs stayed within the budget agreed the year before.',
    );
    if (i === 41) sections.push('The new viaduct over the Esk valley opened to traffic on 14 March 1911, at a cost of £82,000.');
  }
  return sections.join('\n\n');
}

describe('Extractor with a model', () => {
  it('sends MiroThinker’s request and returns the answer with its token count', async () => {
    const fake = await model({ apiKey: 'sk-test', reply: 'The viaduct opened on 14 March 1911.', usage: { prompt_tokens: 900, completion_tokens: 12, total_tokens: 912 } });
    const content = 'Some page with $& and {} and $1 inside.';
    const extraction = await extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'qwen3-8b', summaryLlmApiKey: 'sk-test' }).extract(content, 'When did it open?', {});

    expect(extraction).toEqual({
      text: 'The viaduct opened on 14 March 1911.',
      method: 'llm',
      model: 'qwen3-8b',
      tokensUsed: 912,
      contentChars: content.length,
      truncated: false,
    });
    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request!.method).toBe('POST');
    expect(request!.path).toBe('/v1/chat/completions');
    expect(request!.authorization).toBe('Bearer sk-test');
    expect(request!.contentType).toBe('application/json');
    expect(request!.body).toEqual({ model: 'qwen3-8b', max_tokens: 8192, messages: [{ role: 'user', content: filled('When did it open?', content) }], temperature: 1 });
    expect(Object.keys(request!.body!)).toEqual(['model', 'max_tokens', 'messages', 'temperature']);
  });

  it('uses max_completion_tokens for GPT models, a full endpoint URL as given, and no key when none is set', async () => {
    const fake = await model({ reply: 'ok' });
    await extractor({ summaryLlmBaseUrl: `${fake.baseUrl}/chat/completions`, summaryLlmModelName: 'gpt-5-mini' }).extract('content', 'q', {});
    const [request] = fake.requests;
    expect(request!.path).toBe('/v1/chat/completions');
    expect(request!.authorization).toBeUndefined();
    expect(request!.body).toEqual({ model: 'gpt-5-mini', max_completion_tokens: 8192, messages: [{ role: 'user', content: filled('q', 'content') }], reasoning_effort: 'minimal' });
  });

  it('cuts the content to 409,600 characters first', async () => {
    const fake = await model({ echoChars: 10 });
    const content = 'abcdefghij'.repeat(50_000);
    const extraction = await extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'm' }).extract(content, 'letters', {});
    expect(fake.requests[0]!.prompt).toBe(filled('letters', content.slice(0, 409_600)));
    expect(extraction).toMatchObject({ method: 'llm', text: 'abcdefghij', contentChars: 500_000, truncated: true });
  });

  it('strips a leading <think> block and reports 0 tokens when usage is absent', async () => {
    const fake = await model({ reply: '<think>\nThe user wants the date. Let me look.\n</think>\n\n14 March 1911', usage: null });
    const extraction = await extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'm' }).extract(report(), 'When did the viaduct open?', {});
    expect(extraction.text).toBe('14 March 1911');
    expect(extraction.tokensUsed).toBe(0);
    expect(stripThinking('reasoning only</think>answer', { rule: 'leading' })).toBe('answer');
    expect(stripThinking('<think>never closed', { rule: 'leading' })).toBe('');
    expect(stripThinking('An answer that mentions <think> and </think> tags.', { rule: 'leading' })).toBe('An answer that mentions <think> and </think> tags.');
  });

  it('falls back to passages with a note when the model answers 500', async () => {
    const fake = await model({ status: 500, errorMessage: 'CUDA out of memory' });
    const extraction = await extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'm' }).extract(report(), 'When did the viaduct over the Esk open?', {});
    expect(extraction.method).toBe('passages');
    expect(extraction.model).toBe(PASSAGES_MODEL);
    expect(extraction.note).toMatch(/The extraction model \(m\) failed: .*HTTP 500.*CUDA out of memory/);
    expect(extraction.text).toContain('14 March 1911');
    expect(extraction.tokensUsed).toBe(0);
  });

  it('falls back when the model hangs past the timeout, or answers malformed JSON', async () => {
    const hanging = await model({ hang: true });
    const http = new HttpClient({ allowPrivateNetwork: true, timeoutMs: 300, retries: 0 });
    open.push(http);
    const slow = await extractor({ summaryLlmBaseUrl: hanging.baseUrl, summaryLlmModelName: 'm' }, http).extract(report(), 'viaduct opening date', {});
    expect(slow.method).toBe('passages');
    expect(slow.note).toMatch(/failed: .*timed out/i);

    const broken = await model({ rawBody: '{"choices": []}' });
    const malformed = await extractor({ summaryLlmBaseUrl: broken.baseUrl, summaryLlmModelName: 'm' }).extract(report(), 'viaduct', {});
    expect(malformed.method).toBe('passages');
    expect(malformed.note).toMatch(/no choices\[0\]\.message\.content/);
  });

  it('asks once more with the end of the content cut when the answer stops at the length limit', async () => {
    const fake = await model({ sequence: [{ reply: 'half an answer', finishReason: 'length' }, { reply: 'half an answer, again', finishReason: 'length' }], reply: 'never reached' });
    const content = 'x '.repeat(60_000);
    const extraction = await extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'm' }).extract(content, 'q', {});
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.content.length).toBeLessThan(fake.requests[0]!.content.length);
    expect(fake.requests[1]!.content.endsWith('[...truncated]')).toBe(true);
    expect(extraction).toMatchObject({ method: 'llm', text: 'half an answer, again', truncated: true });
    expect(extraction.note).toMatch(/cut short/);
  });

  it('cuts the tail further on a context-length error, as MiroThinker does', async () => {
    const fake = await model({ contextChars: 45_000, reply: 'fits now' });
    const content = 'y'.repeat(90_000);
    const extraction = await extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'm' }).extract(content, 'q', {});
    const marked = '[...truncated]'.length;
    expect(fake.requests.map((request) => request.content.length)).toEqual([90_000, 90_000 - 40_960 + marked, 90_000 - 81_920 + marked]);
    expect(extraction).toMatchObject({ method: 'llm', text: 'fits now', truncated: true });
  });

  it('throws when the caller cancels', async () => {
    const fake = await model({ hang: true });
    const controller = new AbortController();
    const pending = extractor({ summaryLlmBaseUrl: fake.baseUrl, summaryLlmModelName: 'm' }).extract('content', 'q', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeInstanceOf(FathomError);
  });
});

describe('Extractor without a model', () => {
  it('answers with the BM25 passages that hold the answer', async () => {
    const instance = extractor({});
    expect(instance.model).toBeUndefined();
    const content = report();
    const extraction = await instance.extract(content, 'When did the viaduct over the Esk valley open to traffic?', { maxChars: 1200 });
    expect(extraction).toMatchObject({ method: 'passages', model: 'none (BM25 passages)', tokensUsed: 0, contentChars: content.length, truncated: false });
    expect(extraction.note).toBeUndefined();
    const lines = extraction.text.split('\n');
    expect(lines[0]).toMatch(/most relevant to the question, ranked by BM25.*no extraction model is configured/);
    expect(extraction.text).toContain('### Annual report of the Northern Rail Company > Chapter 41');
    expect(extraction.text).toContain('14 March 1911');
    expect(extraction.text.length).toBeLessThanOrEqual(1200);
    expect(extraction.text).not.toContain('Chapter 7\n');
  });

  it('needs both the base URL and the model name', () => {
    expect(extractor({ summaryLlmModelName: 'm' }).model).toBeUndefined();
    expect(extractor({ summaryLlmBaseUrl: 'http://127.0.0.1:1/v1' }).model).toBeUndefined();
    expect(extractor({ summaryLlmBaseUrl: 'http://127.0.0.1:1/v1', summaryLlmModelName: 'm' }).model).toBe('m');
  });

  it('says so when the content is empty', async () => {
    const extraction = await extractor({}).extract('  \n', 'anything', {});
    expect(extraction).toMatchObject({ text: '', method: 'passages', tokensUsed: 0 });
    expect(extraction.note).toMatch(/empty/);
  });
});
