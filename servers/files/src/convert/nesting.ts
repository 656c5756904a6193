import { FathomError } from '@fathom/core';
import { Parser } from 'yaml';

/**
 * The deepest nesting of arrays, objects or elements the converters read. Parsers and printers
 * recurse once per level and overflow the stack some thousands of levels down; real data stays
 * far above this, so deeper input is measured (without recursing) and refused first.
 */
export const MAX_NESTING = 500;

export function tooDeep(what: string): FathomError {
  return new FathomError('too_large', `${what} is nested more than ${MAX_NESTING} levels deep, deeper than can be read`, {
    hint: 'Nesting this deep is machine-made or hostile: flatten or split the data, then read it again.',
  });
}

/** How deep the arrays and objects of JSON text nest, brackets inside strings aside; linear, for any text. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return deepest;
}

interface CstNode {
  value?: unknown;
  items?: { key?: unknown; value?: unknown }[];
}

/** How deep the collections of YAML text nest, block and flow alike, measured on yaml's syntax tree without recursing. */
export function yamlDepth(text: string): number {
  let deepest = 0;
  for (const token of new Parser().parse(text)) {
    const stack: [unknown, number][] = [[token, 0]];
    while (stack.length > 0) {
      const [node, depth] = stack.pop()!;
      if (!node || typeof node !== 'object') continue;
      const { value, items } = node as CstNode;
      if (items) {
        deepest = Math.max(deepest, depth + 1);
        for (const item of items) stack.push([item.key, depth + 1], [item.value, depth + 1]);
      } else stack.push([value, depth]);
    }
  }
  return deepest;
}
