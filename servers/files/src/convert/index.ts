import { FathomError } from '@fathom/core';
import { detectType, looksBinary, MIME_OF } from './detect.js';
import type { ConvertedDocument, ConvertInput, ConvertOptions, Converter, DocumentType } from './types.js';
import { DEFAULT_OPTIONS } from './types.js';

export * from './types.js';
export { detectType, MIME_OF } from './detect.js';
export { decodeText } from './decode.js';
export { htmlToMarkdown } from './html.js';
export type { HtmlResult, HtmlToMarkdownOptions } from './html.js';
export { gfmTable } from './markdown.js';
export { renderMarkdown, selectSections } from './sections.js';
export type { Selection } from './sections.js';

/** One module per format, loaded on first use. */
const modules: Record<DocumentType, () => Promise<{ converter: Converter }>> = {
  pdf: () => import('./pdf.js'),
  docx: () => import('./docx.js'),
  pptx: () => import('./pptx.js'),
  xlsx: () => import('./sheet.js'),
  xls: () => import('./sheet.js'),
  ods: () => import('./sheet.js'),
  csv: () => import('./sheet.js'),
  tsv: () => import('./sheet.js'),
  html: () => import('./html.js'),
  epub: () => import('./epub.js'),
  ipynb: () => import('./ipynb.js'),
  json: () => import('./data.js'),
  jsonl: () => import('./data.js'),
  yaml: () => import('./data.js'),
  xml: () => import('./data.js'),
  feed: () => import('./feed.js'),
  text: () => import('./text.js'),
  markdown: () => import('./text.js'),
  code: () => import('./text.js'),
  zip: () => import('./zip.js'),
  tar: () => import('./tar.js'),
  gzip: () => import('./compressed.js'),
  bzip2: () => import('./compressed.js'),
  xz: () => import('./compressed.js'),
  eml: () => import('./email.js'),
  msg: () => import('./email.js'),
  image: () => import('./image.js'),
  audio: () => import('./audio.js'),
};

/**
 * Any document to markdown sections. Corrupt, encrypted or mislabelled input is a FathomError
 * ('invalid_argument') that names the problem; limits exceeded are 'too_large'.
 */
export async function convert(input: ConvertInput, options: Partial<ConvertOptions> = {}): Promise<ConvertedDocument> {
  const settings: ConvertOptions = { ...DEFAULT_OPTIONS, ...options };
  if (input.bytes.byteLength > settings.limits.maxBytes) {
    throw new FathomError('too_large', `The document is ${input.bytes.byteLength} bytes, over the ${settings.limits.maxBytes}-byte limit`, {
      hint: 'Ask the operator to raise FATHOM_MAX_FILE_BYTES, or use a smaller file.',
    });
  }
  const type = await detectType(input.bytes, input.name, input.mimeType);
  if (settings.documentsOnly) refuseNonDocument(input, type);
  const { converter } = await modules[type]();
  const document = await converter.convert(input, type, settings, convert);
  document.info.mimeType ||= MIME_OF[type];
  return document;
}

/** Types that are text in some syntax, so bytes that do not look like text cannot be one of them. */
const TEXT_TYPES = new Set<DocumentType>(['text', 'markdown', 'code', 'json', 'jsonl', 'yaml', 'xml', 'csv', 'tsv', 'html', 'feed', 'ipynb', 'eml']);
const NOT_DOCUMENTS: Partial<Record<DocumentType, string>> = { image: 'an image', audio: 'audio', zip: 'a ZIP archive' };

function refuseNonDocument(input: ConvertInput, type: DocumentType): void {
  const described = NOT_DOCUMENTS[type] ?? (TEXT_TYPES.has(type) && looksBinary(input.bytes) ? 'binary data' : undefined);
  if (!described) return;
  const mime = input.mimeType?.split(';')[0]!.trim().toLowerCase();
  throw new FathomError('invalid_argument', `The page at ${input.url ?? input.name ?? 'this address'} is ${mime ? `${mime} (${described})` : described}, not a document`, {
    hint: "Read it with the files server's read_document tool, which takes a URL.",
    details: { type, contentType: input.mimeType ?? '' },
  });
}

/** Most ranges one `pages` list may hold, and most pages it may select. */
export const MAX_RANGES = 100;
export const MAX_SELECTED_PAGES = 100_000;

function notARange(part: string, hint = 'Write ranges like "3", "1-5" or "2,4,10-12".'): FathomError {
  return new FathomError('invalid_argument', `"${part}" is not a page range`, { hint });
}

/**
 * "1-3,7" to [1, 2, 3, 7], sorted, each once. With `max` (the last section), ranges end there
 * ("4-" reads to the end) and pages past it are left out.
 */
export function parseRanges(spec: string, max?: number): number[] {
  const parts = spec.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length > MAX_RANGES) {
    throw new FathomError('invalid_argument', `pages lists ${parts.length} ranges; at most ${MAX_RANGES} are allowed`, {
      hint: 'Join neighbouring pages into ranges ("1-40" rather than "1,2,3,…"), or read the document in several calls.',
    });
  }
  const ranges: [number, number][] = [];
  for (const part of parts) {
    const match = /^(\d+)(?:\s*-\s*(\d*))?$/.exec(part);
    if (!match) throw notARange(part);
    const start = Number(match[1]);
    const end = match[2] === undefined ? start : match[2] === '' ? (max ?? start) : Number(match[2]);
    if (!Number.isSafeInteger(start) || start < 1 || end < start) throw notARange(part, 'Pages count from 1; write "2-5", not "5-2".');
    const last = Math.min(end, max ?? end);
    if (start <= last) ranges.push([start, last]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const numbers: number[] = [];
  for (const [start, end] of ranges) {
    const from = Math.max(start, (numbers.at(-1) ?? 0) + 1);
    if (numbers.length + (end - from + 1) > MAX_SELECTED_PAGES) {
      throw new FathomError('invalid_argument', `pages selects more than ${MAX_SELECTED_PAGES} pages`, {
        hint: `Ask for at most ${MAX_SELECTED_PAGES} at a time, e.g. "1-1000", and continue with the next range.`,
      });
    }
    for (let n = from; n <= end; n++) numbers.push(n);
  }
  return numbers;
}
