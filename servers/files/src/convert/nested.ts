import { FathomError } from '@fathom/core';
import { decodeText } from './decode.js';
import { detectType } from './detect.js';
import { renderMarkdown } from './sections.js';
import { binaryShare } from './text.js';
import type { ConvertFn, ConvertInput, ConvertOptions, Table } from './types.js';

/** Archive members and compressed files below this size are not held to the compression-ratio limit (text compresses well). */
export const RATIO_FLOOR = 1024 * 1024;

export interface NestedResult {
  markdown: string;
  tables: Table[];
  notes: string[];
}

/** A file the text converter would refuse as noise: control bytes, and no format of its own. */
export async function looksBinary(bytes: Uint8Array, name: string): Promise<boolean> {
  const sample = bytes.subarray(0, 8192);
  const type = await detectType(sample, name);
  return (type === 'text' || type === 'code' || type === 'markdown') && binaryShare(decodeText(sample).text) > 0.05;
}

/**
 * A document inside another (an archive member, a mail attachment), converted one level deeper.
 * Its tables and notes are labelled with its name; a failure becomes a line in place of it, so
 * the rest of the container is still read.
 */
export async function convertNested(input: ConvertInput & { name: string }, options: ConvertOptions, convert: ConvertFn): Promise<NestedResult> {
  if (input.bytes.length === 0) return { markdown: '*empty file*', tables: [], notes: [] };
  if (await looksBinary(input.bytes, input.name)) {
    return { markdown: `*binary file (${input.bytes.length} bytes): not converted*`, tables: [], notes: [] };
  }
  try {
    const document = await convert(input, { ...options, depth: options.depth + 1 });
    return {
      markdown: renderMarkdown(document),
      tables: document.sections.flatMap((section) => section.tables ?? []).map((table) => ({ ...table, location: `${input.name}, ${table.location}` })),
      notes: (document.info.notes ?? []).map((note) => `${input.name}: ${note}`),
    };
  } catch (error) {
    const reason = error instanceof FathomError ? error.message : `could not convert it (${error instanceof Error ? error.message : String(error)})`;
    return { markdown: `*Not converted: ${reason}*`, tables: [], notes: [] };
  }
}

/** An archive member, converted with no more than what is left of the archive's expansion budget. */
export async function convertMember(bytes: Uint8Array, path: string, options: ConvertOptions, remaining: number, convert: ConvertFn): Promise<NestedResult> {
  const limits = { ...options.limits, maxBytes: remaining + bytes.length };
  return convertNested({ bytes, name: path }, { ...options, limits }, convert);
}

/** A part's markdown under its `## name` heading, dropping a converter's own heading for the same file. */
export function underHeading(path: string, markdown: string): string {
  const own = /^#{1,2} (.+)\n+/.exec(markdown);
  const body = own && (own[1] === path || own[1] === path.slice(path.lastIndexOf('/') + 1)) ? markdown.slice(own[0].length) : markdown;
  return `## ${path}\n\n${body}`;
}
