import type { FathomError } from '@fathom/core';
import { describe, expect, it } from 'vitest';
import { MAX_RANGES, MAX_SELECTED_PAGES, parseRanges } from '../../src/convert/index.js';
import { MAX_GLOB_LENGTH, compileGlob } from '../../src/glob.js';

/** The glob matcher list_files had before, as a regular expression: the reference for what globs mean. */
function regexGlob(glob: string): RegExp {
  let out = '';
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        out += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '{') {
      braces++;
      out += '(?:';
    } else if (c === '}' && braces > 0) {
      braces--;
      out += ')';
    } else if (c === ',' && braces > 0) out += '|';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) out += '\\[';
      else {
        out += '[' + glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else out += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

const GLOBS = [
  '*', '*.pdf', '*.PDF', '**', '**/*', '**/*.csv', 'data/**', 'data/**/*.csv', 'data/*/y.csv', '**/deep/*', '*/', '?', '??.txt', 'a?c',
  '{a,b}.txt', '*.{csv,tsv}', '{data,docs}/**/*.{md,txt}', '{a,{b,c}d}', '{,x}y', '{}', '[abc].txt', '[a-c]*', '[!a]*', '[^a]*', '[!]x',
  '[]x', '[a-]', '[-a]', '[\\]', '[', 'x[', 'a]b', 'a}b', 'a,b', 'a.b', 'a+b', '(a)', '$a^', 'a|b', '**x', 'x**', 'a/**/b', '***', '**/**',
  '.*', 'data/.*', 'report (1).pdf', 'c++/*.h', '*a*a*ab',
];
const PATHS = [
  '', 'a', 'b', 'x', 'ab', 'abc', 'a.txt', 'b.txt', 'c.txt', 'd.txt', 'a.csv', 'A.PDF', 'a.pdf', 'report.pdf', 'notes.md', 'a.tsv', 'y',
  'xy', 'bd', 'cd', 'ad', 'a/', 'a/b', 'a/x/b', 'a/x/y/b', 'data', 'data/x.csv', 'data/deep/y.csv', 'data/deep/z.txt', 'docs/a/b.md',
  'deep/q', 'x/deep/q', '.hidden', 'data/.secret.csv', '.config/x.csv', 'a]b', 'a}b', 'a,b', 'a.b', 'a+b', '(a)', '$a^', 'a|b', '[', 'x[',
  '-', ']x', '!x', '\\', 'report (1).pdf', 'c++/x.h', 'axbxab', 'aab', 'ab/ab', 'a-', 'xxx', 'x\ny',
];

describe('list_files globs', () => {
  it('match the same paths as the regular-expression matcher did', () => {
    for (const glob of GLOBS) {
      const matches = compileGlob(glob);
      const reference = regexGlob(glob);
      for (const path of PATHS) {
        if (/\n/.test(path) && glob.includes('**')) continue; // `.` never matched a line break: now ** does
        expect(matches(path), `${glob} on ${JSON.stringify(path)}`).toBe(reference.test(path));
      }
    }
  });

  it('refuse what the regular expression refused, saying why', () => {
    expect(() => compileGlob('{a')).toThrow('Invalid glob "{a": 1 { left open');
    expect(() => compileGlob('[z-a]')).toThrow('Invalid glob "[z-a]": the range z-a is out of order');
    const long = compileGlob.bind(null, 'a'.repeat(MAX_GLOB_LENGTH + 1));
    expect(long).toThrow(`The glob is ${MAX_GLOB_LENGTH + 1} characters long; at most ${MAX_GLOB_LENGTH} are allowed`);
  });

  it('decide pathological globs on long names, and correctly', () => {
    const stars = compileGlob('*a*a*a*a*a*a*a*a*a*a*a*a*ab');
    expect(stars('a'.repeat(5000))).toBe(false);
    expect(stars(`${'a'.repeat(5000)}b`)).toBe(true);
    expect(stars(`${'a'.repeat(5000)}/b`)).toBe(false);
    const folders = compileGlob('**/**/**/**/**/**/**/**/x');
    expect(folders(`${'a/'.repeat(2000)}y`)).toBe(false);
    expect(folders(`${'a/'.repeat(2000)}x`)).toBe(true);
    const nested = compileGlob(`${'{a,'.repeat(200)}b${'}'.repeat(200)}`);
    expect(nested('b')).toBe(true);
    expect(nested('ab')).toBe(false);
  });
});

function rangeError(spec: string, max?: number): FathomError {
  try {
    parseRanges(spec, max);
  } catch (error) {
    return error as FathomError;
  }
  throw new Error(`"${spec}" was accepted`);
}

describe('pages lists', () => {
  it('expand to sorted pages, each once, ending at the last page', () => {
    expect(parseRanges('3')).toEqual([3]);
    expect(parseRanges('2,4,10-12')).toEqual([2, 4, 10, 11, 12]);
    expect(parseRanges('5-7, 1-3 ,6-8,2')).toEqual([1, 2, 3, 5, 6, 7, 8]);
    expect(parseRanges('4-', 6)).toEqual([4, 5, 6]);
    expect(parseRanges('2-99999999', 3)).toEqual([2, 3]);
    expect(parseRanges('5-9', 3)).toEqual([]);
    expect(parseRanges(Array.from({ length: MAX_RANGES }, (_, i) => `${i + 1}`).join(','))).toHaveLength(MAX_RANGES);
  });

  it('refuse too many ranges and too many pages, naming the limit', () => {
    const ranges = rangeError(Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i + 1}`).join(','));
    expect(ranges).toMatchObject({ code: 'invalid_argument', message: `pages lists ${MAX_RANGES + 1} ranges; at most ${MAX_RANGES} are allowed` });
    expect(ranges.hint).toContain('several calls');
    const pages = rangeError(`1-${MAX_SELECTED_PAGES},${MAX_SELECTED_PAGES + 1}`);
    expect(pages).toMatchObject({ code: 'invalid_argument', message: `pages selects more than ${MAX_SELECTED_PAGES} pages` });
    expect(parseRanges(`1-${MAX_SELECTED_PAGES},50-60`)).toHaveLength(MAX_SELECTED_PAGES);
  });

  it('refuse what is not a range', () => {
    for (const spec of ['x', '0', '5-2', '1-2-3', '9'.repeat(400)]) expect(rangeError(spec).message).toBe(`"${spec}" is not a page range`);
  });
});
