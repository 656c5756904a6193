import { describe, expect, it } from 'vitest';
import { pyJson, pyRepr, pyStr } from '../src/python.js';

// Expected texts printed by CPython 3.11's repr().
const STRINGS: [string, string][] = [
  ['hi\n', "'hi\\n'"],
  ["it's", `"it's"`],
  ['say "x"', `'say "x"'`],
  [`both ' and "`, `'both \\' and "'`],
  ['tab\there', "'tab\\there'"],
  ['back\\slash', "'back\\\\slash'"],
  ['\u0000\u001b', "'\\x00\\x1b'"],
  ['é ü 中文', "'é ü 中文'"],
  ['\u200b', "'\\u200b'"],
  ['\u2028', "'\\u2028'"],
  ['😀', "'😀'"],
  ['\u007f', "'\\x7f'"],
  ['\u00a0', "'\\xa0'"],
  ['\u{e0001}', "'\\U000e0001'"],
];

describe('pyStr', () => {
  it.each(STRINGS)('repr(%j) is %s', (text, expected) => {
    expect(pyStr(text)).toBe(expected);
  });
});

describe('pyRepr', () => {
  it('prints dicts, lists and constants as Python does', () => {
    expect(pyRepr({ a: [1, null, true, false, "x'"], b: { c: 1.5 } })).toBe(`{'a': [1, None, True, False, "x'"], 'b': {'c': 1.5}}`);
    expect(pyRepr([])).toBe('[]');
    expect(pyRepr({})).toBe('{}');
  });
});

describe('pyJson', () => {
  it("writes json.dumps(ensure_ascii=False)'s text", () => {
    // Expected texts printed by CPython 3.11's json.dumps(value, ensure_ascii=False).
    expect(pyJson({ organic: [{ title: 'Café "x"', position: 1, ok: true, none: null }], searchParameters: { q: '中文\n' } })).toBe(
      '{"organic": [{"title": "Café \\"x\\"", "position": 1, "ok": true, "none": null}], "searchParameters": {"q": "中文\\n"}}',
    );
    expect(pyJson([])).toBe('[]');
    expect(pyJson({})).toBe('{}');
  });
});
