import { describe, expect, it } from 'vitest';
import { safeFileName } from '@fathom/core';

describe('safeFileName', () => {
  it('keeps one file inside the folder: the last path part, no leading dots', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('..\\a\\b.txt')).toBe('b.txt');
    expect(safeFileName('.hidden')).toBe('hidden');
    expect(safeFileName(' . .bashrc')).toBe('bashrc');
  });

  it('drops control characters and replaces what Windows refuses', () => {
    expect(safeFileName('a:b?.pdf')).toBe('a_b_.pdf');
    expect(safeFileName('line\nbreak\u0000\u007f.txt')).toBe('linebreak.txt');
    expect(safeFileName('<x>|"y"*.csv')).toBe('_x___y__.csv');
  });

  it('falls back when nothing is left', () => {
    expect(safeFileName('')).toBe('file');
    expect(safeFileName('../', { fallback: 'download' })).toBe('download');
    expect(safeFileName('...', { fallback: 'downloaded_file' })).toBe('downloaded_file');
  });

  it('shortens to the byte limit with the extension kept, never splitting a character', () => {
    const long = safeFileName(`${'é'.repeat(150)}.xlsx`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(200);
    expect(long).toBe(`${'é'.repeat(97)}.xlsx`);
    expect(safeFileName(`${'a'.repeat(300)}`, { maxBytes: 10 })).toBe('a'.repeat(10));
    expect(safeFileName(`a.${'b'.repeat(40)}`, { maxBytes: 10 })).toBe(`a.${'b'.repeat(8)}`);
  });
});
