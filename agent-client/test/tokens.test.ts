import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import type * as O200k from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it, vi } from 'vitest';
import { CONTEXT_BUFFER_TOKENS, MESSAGE_OVERHEAD_TOKENS, countTokens, estimateContext } from '../src/protocol/index.js';
import type { ChatMessage } from '../src/types.js';

// The tokenizer itself, watched: how many texts are counted says what the cache saves.
vi.mock('gpt-tokenizer/encoding/o200k_base', async (importOriginal) => {
  const actual = await importOriginal<typeof O200k>();
  return { ...actual, countTokens: vi.fn(actual.countTokens) };
});

const WORDS = 'the of research agent model search result page table value answer question paper data 2025 tool python sandbox query'.split(' ');

/** Text of varied words and numbers, so the tokenizer has real work to do. */
function prose(seed: number, chars: number): string {
  let state = seed;
  let text = '';
  while (text.length < chars) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    text += state % 7 === 0 ? ` ${state % 100_000}` : ` ${WORDS[state % WORDS.length]}${state % 13 === 0 ? '.' : ''}`;
  }
  return text;
}

describe('countTokens', () => {
  it('counts with o200k_base', () => {
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('')).toBe(0);
  });

  it('counts special-token strings as text instead of failing', () => {
    expect(countTokens('a <|endoftext|> b')).toBeGreaterThan(3);
  });
});

describe('estimateContext', () => {
  it('adds every message, the per-message overhead, the completion budget and the margin', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'hello world' },
      { role: 'user', content: 'hello world' },
      { role: 'assistant', content: '', tool_calls: [{ id: '1', type: 'function', function: { name: 'hello', arguments: 'world' } }] },
    ];
    expect(estimateContext(messages, 16_384)).toBe(2 + 2 + 2 + 3 * MESSAGE_OVERHEAD_TOKENS + 16_384 + CONTEXT_BUFFER_TOKENS);
    expect(estimateContext([], 100)).toBe(100 + CONTEXT_BUFFER_TOKENS);
  });

  it('estimates a 600-message, ~256K-token history again without counting any of it twice', () => {
    const messages: ChatMessage[] = [{ role: 'system', content: prose(1, 8_000) }];
    for (let index = 0; index < 600; index++) {
      messages.push({ role: index % 2 ? 'user' : 'assistant', content: prose(index + 2, 1_650) });
    }
    const first = estimateContext(messages, 16_384);
    expect(first).toBeGreaterThan(200_000);
    expect(first).toBeLessThan(330_000);

    const tokenizer = vi.mocked(countO200k);
    const counted = tokenizer.mock.calls.length;
    expect(counted).toBeGreaterThan(0);
    const copies = messages.map((message) => ({ ...message }));
    const second = estimateContext(copies, 16_384);
    expect(second).toBe(first);
    expect(tokenizer.mock.calls.length).toBe(counted);
  });
});
