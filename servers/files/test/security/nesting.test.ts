import { describe, expect, it } from 'vitest';
import { convert } from '../../src/convert/index.js';
import { MAX_NESTING, jsonDepth, yamlDepth } from '../../src/convert/nesting.js';

const read = (text: string, name: string) => convert({ bytes: new TextEncoder().encode(text), name });
const jsonArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const yamlMaps = (depth: number) => Array.from({ length: depth }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + ' leaf\n';

describe('nesting depth, measured without recursing', () => {
  it('counts JSON arrays and objects, not brackets inside strings', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a": [1, {"b": []}]}')).toBe(4);
    expect(jsonDepth('{"a": "[[[{{{", "b": "\\"[[["}')).toBe(1);
    expect(jsonDepth(jsonArrays(200_000))).toBe(200_000);
  });

  it('counts YAML block and flow collections alike', () => {
    expect(yamlDepth('plain scalar')).toBe(0);
    expect(yamlDepth('a: 1\nb: [1, {c: "[[["}]\n')).toBe(3);
    expect(yamlDepth('- - - x\n')).toBe(3);
    expect(yamlDepth(yamlMaps(40))).toBe(40);
    expect(yamlDepth('a: "[[[" # [[[\n')).toBe(1);
  });

  it(`reads ${MAX_NESTING} levels and refuses one more, naming the limit`, async () => {
    const cases: [string, (depth: number) => string][] = [
      ['data.json', jsonArrays],
      ['data.yaml', yamlMaps],
      ['data.xml', (depth) => '<a>'.repeat(depth) + '</a>'.repeat(depth)],
    ];
    for (const [name, nested] of cases) {
      await expect(read(nested(MAX_NESTING), name), name).resolves.toMatchObject({ sections: [expect.anything()] });
      await expect(read(nested(MAX_NESTING + 1), name), name).rejects.toMatchObject({
        message: expect.stringContaining(`nested more than ${MAX_NESTING} levels deep`),
      });
    }
  });
});
