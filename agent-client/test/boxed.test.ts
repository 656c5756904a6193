import { describe, expect, it } from 'vitest';
import { lastBoxed } from '../src/protocol/index.js';

describe('lastBoxed', () => {
  it('reads a simple answer', () => {
    expect(lastBoxed('The answer is \\boxed{42}.')).toBe('42');
  });

  it('balances nested braces', () => {
    expect(lastBoxed('\\boxed{\\frac{1}{2}}')).toBe('\\frac{1}{2}');
    expect(lastBoxed('x \\boxed{{a}, {b, {c}}} y')).toBe('{a}, {b, {c}}');
  });

  it('takes the last one', () => {
    expect(lastBoxed('first \\boxed{1}, then \\boxed{2}')).toBe('2');
  });

  it('reads an unclosed last one to the end of the text, as MiroThinker does', () => {
    expect(lastBoxed('\\boxed{1} and later \\boxed{Paris')).toBe('Paris');
    expect(lastBoxed('The answer is \\boxed{Paris')).toBe('Paris');
    expect(lastBoxed('\\boxed{\\frac{1}{2')).toBe('\\frac{1}{2');
  });

  it('skips escaped braces and whitespace before the brace, and trims the answer', () => {
    expect(lastBoxed('\\boxed{a \\} b}')).toBe('a \\} b');
    expect(lastBoxed('\\boxed {  Paris  }')).toBe('Paris');
  });

  it('needs \\boxed as a whole command', () => {
    expect(lastBoxed('\\boxedx{1}')).toBeUndefined();
    expect(lastBoxed('no box here')).toBeUndefined();
  });

  it.each(['', '  ', '?', '...', 'unknown', '…', '？'])('treats %j as no answer', (answer) => {
    expect(lastBoxed(`\\boxed{${answer}}`)).toBeUndefined();
  });

  it.each(['Unknown', 'UNKNOWN', ' unknown '])('keeps %j as an answer: only the exact lowercase word is blank', (answer) => {
    expect(lastBoxed(`\\boxed{${answer}}`)).toBe(answer.trim());
  });
});
