import { describe, expect, it } from 'vitest';
import { repeatsItself, stripThinking } from '@fathom/core';

describe('stripThinking', () => {
  it('last-close: the text after the last </think>, as MiroThinker reads a turn', () => {
    expect(stripThinking('<think>a</think>b<think>c</think>\n\nanswer\n', { rule: 'last-close' })).toBe('answer');
    expect(stripThinking('no thinking here ', { rule: 'last-close' })).toBe('no thinking here');
  });

  it('leading: only a block that opens the text, or a closing tag alone', () => {
    expect(stripThinking('<think>\nLet me look.\n</think>\n\n14 March 1911', { rule: 'leading' })).toBe('14 March 1911');
    expect(stripThinking('reasoning only</think>answer', { rule: 'leading' })).toBe('answer');
    expect(stripThinking('<think>never closed', { rule: 'leading' })).toBe('');
    expect(stripThinking('An answer that mentions <think> and </think> tags.', { rule: 'leading' })).toBe('An answer that mentions <think> and </think> tags.');
  });

  it('every: each block wherever it stands', () => {
    expect(stripThinking('<think>Correct?</think> **Incorrect** <think>sure</think>', { rule: 'every' })).toBe('**Incorrect**');
    expect(stripThinking('<think>unclosed Correct', { rule: 'every' })).toBe('<think>unclosed Correct');
  });
});

describe('repeatsItself', () => {
  const block = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN';

  it('flags a 50-character tail found more than 5 times', () => {
    expect(block).toHaveLength(50);
    expect(repeatsItself(block.repeat(5))).toBe(false);
    expect(repeatsItself(block.repeat(6))).toBe(true);
    expect(repeatsItself('short text')).toBe(false);
    expect(repeatsItself('A normal answer that says what it found, once. '.repeat(2))).toBe(false);
  });

  it('counts overlapping occurrences when told', () => {
    const run = 'a'.repeat(55);
    expect(repeatsItself(run)).toBe(false);
    expect(repeatsItself(run, { overlapping: true })).toBe(true);
    expect(repeatsItself('ab'.repeat(4), { tailChars: 2, limit: 3 })).toBe(true);
  });
});
