import { cutToBudget, defineTool, respond } from '@fathom/core';
import { z } from 'zod';
import type { FilesRuntime } from '../runtime.js';
import { pagesField, select, sheetField, sourceField } from './common.js';

const DEFAULT_MAX_CHARS = 20_000;

const readOutput = z.object({
  source: z.string(),
  type: z.string().describe('Detected format, e.g. pdf, docx, xlsx'),
  title: z.string().optional(),
  selection: z.string().describe('What was read, e.g. "pages 1-3 of 12"; empty for the whole document'),
  start: z.number().describe('Offset of the first character returned'),
  end: z.number().describe('Offset after the last character returned'),
  total_chars: z.number().describe('Length of the whole selection'),
  next_cursor: z.string().optional().describe('Pass as cursor to read on; absent at the end'),
  notes: z.array(z.string()).describe('What to know about this conversion, e.g. a scanned PDF'),
});

export const readDocument = (runtime: FilesRuntime) =>
  defineTool({
    name: 'read_document',
    title: 'Read a document',
    description:
      'Read any document as markdown: PDF, Word, Excel/ODS/CSV, PowerPoint, HTML, EPUB, notebooks, JSON/YAML/XML, ' +
      'RSS/Atom, e-mail, ZIP and TAR archives, gzip/bzip2/xz files, images (size, EXIF, text by OCR) and audio (tags, transcript when configured). ' +
      'PDF pages are marked <!-- page N -->, sheets and slides are ## headings. Long documents come in parts: ' +
      'when the result ends with a cursor, call again with that cursor to continue. Use pages/sheet to read only part.',
    input: z.object({
      source: sourceField,
      pages: pagesField,
      sheet: sheetField,
      cursor: z.string().optional().describe('Continue where the previous call stopped (from its last line)'),
      max_chars: z.number().int().min(500).max(200_000).default(DEFAULT_MAX_CHARS).describe('Most characters to return in this call'),
      main_content: z.boolean().default(true).describe('HTML only: the main content (true) or the whole page (false)'),
    }),
    output: readOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ source, pages, sheet, cursor, max_chars, main_content }, context) {
      const loaded = await runtime.load(source, context);
      const document = await runtime.document(loaded, main_content);
      const selected = select(document, pages, sheet);
      const markdown = selected.sections.map((section) => section.markdown).join('\n\n');
      const notes = document.info.notes ?? [];
      // The conversion's notes head the first window; with notes, an empty document needs no other words.
      const response = respond<z.infer<typeof readOutput>>().heading(notes.map((note) => `> ${note}`).join('\n'));
      const slice = response.body(markdown, { maxChars: max_chars, cursor, ...(notes.length ? {} : { empty: '(the document has no text)' }) });
      return response.structured({
        source: loaded.display,
        type: document.info.type,
        ...(document.info.title ? { title: document.info.title } : {}),
        selection: selected.label,
        start: slice.start,
        end: slice.end,
        total_chars: slice.total,
        ...(slice.nextCursor ? { next_cursor: slice.nextCursor } : {}),
        notes,
      });
    },
  });

const MARKITDOWN_MAX_CHARS = 100_000;

export const convertToMarkdown = (runtime: FilesRuntime) =>
  defineTool({
    name: 'convert_to_markdown',
    title: 'Convert to markdown',
    description:
      'Convert a resource described by an http:, https:, file: or data: URI to markdown (compatible with markitdown). ' +
      `Returns up to ${MARKITDOWN_MAX_CHARS.toLocaleString('en-US')} characters; for longer documents use read_document with its cursor.`,
    input: z.object({ uri: z.string().min(1).describe('An http:, https:, file: or data: URI') }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ uri }, context) {
      const loaded = await runtime.load(uri, context);
      const document = await runtime.document(loaded);
      const markdown = document.sections.map((section) => section.markdown).join('\n\n');
      const slice = cutToBudget(markdown, { maxChars: MARKITDOWN_MAX_CHARS });
      // markitdown answers an empty document with an empty text, which as a response would be no text block at all.
      if (!slice.text) return '';
      return respond()
        .text(slice.text)
        .text(slice.truncated ? `[Showing characters 1–${slice.end} of ${slice.total}. Call read_document with source "${uri}" and cursor "${slice.nextCursor}" for the rest.]` : undefined);
    },
  });
