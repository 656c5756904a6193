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

  it('ignores an unbalanced one', () => {
    expect(lastBoxed('\\boxed{1} and later \\boxed{2')).toBe('1');
    expect(lastBoxed('\\boxed{oops')).toBeUndefined();
  });

  it('skips escaped braces and whitespace before the brace, and trims the answer', () => {
    expect(lastBoxed('\\boxed{a \\} b}')).toBe('a \\} b');
    expect(lastBoxed('\\boxed {  Paris  }')).toBe('Paris');
  });

  it('needs \\boxed as a whole command', () => {
    expect(lastBoxed('\\boxedx{1}')).toBeUndefined();
    expect(lastBoxed('no box here')).toBeUndefined();
  });

  it.each(['', '  ', '?', '...', 'unknown', ' Unknown ', 'UNKNOWN', '…', '？'])('treats %j as no answer', (answer) => {
    expect(lastBoxed(`\\boxed{${answer}}`)).toBeUndefined();
  });
});
