import { describe, expect, it } from 'vitest';
import { continuationNote, cutToBudget } from '../src/budget.js';
import type { BudgetSlice } from '../src/budget.js';
import { isFathomError } from '../src/errors.js';

function walk(text: string, maxChars: number): BudgetSlice[] {
  const slices: BudgetSlice[] = [];
  let cursor: string | undefined;
  do {
    const slice = cutToBudget(text, { maxChars, cursor });
    slices.push(slice);
    cursor = slice.nextCursor;
    if (slices.length > text.length + 1) throw new Error('no progress');
  } while (cursor !== undefined);
  return slices;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('cutToBudget', () => {
  it('returns short text whole, without a cursor', () => {
    const slice = cutToBudget('short text', { maxChars: 100 });
    expect(slice).toEqual({ text: 'short text', start: 0, end: 10, total: 10, truncated: false });
    expect(continuationNote(slice)).toBe('');
    expect(cutToBudget('', { maxChars: 5 })).toMatchObject({ text: '', truncated: false });
    expect(cutToBudget('exact', { maxChars: 5 }).truncated).toBe(false);
  });

  it('prefers a paragraph break over a line, a sentence and a word', () => {
    // Window of 40; the boundaries all sit in its last quarter (chars 30..40).
    const base = 'a'.repeat(30);
    expect(cutToBudget(`${base}ab\n\ncd\nef. gh ijklmnopqrstuvwxyz`, { maxChars: 40 }).text).toBe(`${base}ab\n\n`);
    expect(cutToBudget(`${base}ab\ncd. ef gh ijklmnopqrstuvwxyz`, { maxChars: 40 }).text).toBe(`${base}ab\n`);
    expect(cutToBudget(`${base}ab. cd ef ghijklmnopqrstuvwxyz`, { maxChars: 40 }).text).toBe(`${base}ab. `);
    expect(cutToBudget(`${base}ab cd efghijklmnopqrstuvwxyz`, { maxChars: 40 }).text).toBe(`${base}ab cd `);
  });

  it('treats a line holding only spaces as a blank line', () => {
    const text = `${'a'.repeat(30)}ab\n  \ncd\nefghijklmnopqrstuvwxyz`;
    expect(cutToBudget(text, { maxChars: 40 }).text).toBe(`${'a'.repeat(30)}ab\n  \n`);
  });

  it('ignores boundaries before the last quarter of the window and cuts hard', () => {
    const text = `ab\n\n${'x'.repeat(100)}`;
    const slice = cutToBudget(text, { maxChars: 40 });
    expect(slice.end).toBe(40);
    expect(slice.text).toBe(text.slice(0, 40));
  });

  it('never splits a surrogate pair', () => {
    const text = `${'x'.repeat(9)}😀${'y'.repeat(20)}`;
    const slice = cutToBudget(text, { maxChars: 10 });
    expect(slice.text).toBe('x'.repeat(9));
    const next = cutToBudget(text, { maxChars: 10, cursor: slice.nextCursor });
    expect(next.text.startsWith('😀')).toBe(true);

    const emoji = '😀😀😀';
    const tiny = walk(emoji, 1);
    expect(tiny.map((s) => s.text)).toEqual(['😀', '😀', '😀']);
  });

  it.each([1, 2, 7, 13, 64, 500])('reassembles the whole text from slices of %i characters', (maxChars) => {
    const prose = Array.from({ length: 40 }, (_, i) =>
      i % 5 === 4 ? `Paragraph ${i} ends here.\n\n` : `Sentence ${i} has some words, and an emoji 🧭 too! `,
    ).join('');
    const texts = [prose, 'x'.repeat(1000), '😀a😀'.repeat(100), `${'é'.repeat(50)}\r\n\r\n${'日本語。'.repeat(30)}`];
    for (const text of texts) {
      const slices = walk(text, maxChars);
      expect(slices.map((s) => s.text).join('')).toBe(text);
      for (const slice of slices) {
        expect(slice.text.length).toBeGreaterThan(0);
        expect(slice.text.length).toBeLessThanOrEqual(Math.max(maxChars, 2));
        expect(/[\uD800-\uDBFF]$/.test(slice.text)).toBe(false);
        expect(/^[\uDC00-\uDFFF]/.test(slice.text)).toBe(false);
      }
      expect(slices.at(-1)?.truncated).toBe(false);
    }
  });

  it('uses short URL-safe cursors', () => {
    const slice = cutToBudget('word '.repeat(10_000), { maxChars: 1000 });
    expect(slice.nextCursor).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
  });

  it('rejects a cursor from other content', () => {
    const { nextCursor } = cutToBudget('a'.repeat(100), { maxChars: 10 });
    const error = errorOf(() => cutToBudget('b'.repeat(100), { maxChars: 10, cursor: nextCursor }));
    expect(isFathomError(error, 'invalid_argument')).toBe(true);
    expect((error as Error).message).toMatch(/belongs to other content/);
    expect(isFathomError(error) && error.hint).toMatch(/without a cursor/);
  });

  it('rejects malformed cursors and offsets past the end', () => {
    for (const cursor of ['', 'not a cursor!', 'bm9wZQ', Buffer.from('12.zzzzzzzz').toString('base64url')]) {
      const error = errorOf(() => cutToBudget('some text', { maxChars: 3, cursor }));
      expect(isFathomError(error, 'invalid_argument')).toBe(true);
    }
    const text = 'a'.repeat(20);
    const { nextCursor } = cutToBudget(text, { maxChars: 5 });
    const fingerprint = Buffer.from(nextCursor ?? '', 'base64url').toString().split('.')[1];
    const pastEnd = Buffer.from(`21.${fingerprint}`).toString('base64url');
    expect(isFathomError(errorOf(() => cutToBudget(text, { maxChars: 5, cursor: pastEnd })), 'invalid_argument')).toBe(true);
  });

  it('rejects a budget below one character', () => {
    expect(isFathomError(errorOf(() => cutToBudget('abc', { maxChars: 0 })), 'invalid_argument')).toBe(true);
    expect(isFathomError(errorOf(() => cutToBudget('abc', { maxChars: 2.5 })), 'invalid_argument')).toBe(true);
  });
});

describe('continuationNote', () => {
  it('says where the slice sits and how to continue', () => {
    const text = 'x'.repeat(85_312);
    const first = cutToBudget(text, { maxChars: 20_000 });
    expect(continuationNote(first)).toBe(
      `[Showing characters 1–20,000 of 85,312. 65,312 more: call again with cursor "${first.nextCursor}"]`,
    );
    const second = cutToBudget(text, { maxChars: 20_000, cursor: first.nextCursor });
    expect(continuationNote(second)).toMatch(/^\[Showing characters 20,001–40,000 of 85,312\. 45,312 more: /);
  });
});
