import { defineTool, respond } from '@fathom/core';
import { z } from 'zod';
import type { FilesRuntime } from '../runtime.js';
import { sourceField } from './common.js';

export const documentInfo = (runtime: FilesRuntime) =>
  defineTool({
    name: 'document_info',
    title: 'Document info',
    description:
      'What a document is before reading it: format, size, pages/sheets/slides, title, author, dates, outline ' +
      '(headings or table of contents), tables found, and notes such as "scanned PDF".',
    input: z.object({ source: sourceField }),
    output: z.object({
      source: z.string(),
      type: z.string(),
      mime_type: z.string(),
      bytes: z.number(),
      title: z.string().optional(),
      author: z.string().optional(),
      created: z.string().optional(),
      modified: z.string().optional(),
      pages: z.number().optional(),
      sheets: z.array(z.string()).optional(),
      slides: z.number().optional(),
      sections: z.number().describe('Parts the document is divided into (pages, sheets, slides, chapters, files, items)'),
      tables: z.number(),
      characters: z.number().describe('Length of the whole markdown'),
      outline: z.array(z.string()),
      notes: z.array(z.string()),
      properties: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
    }),
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ source }, context) {
      const loaded = await runtime.load(source, context);
      const { info, sections } = await runtime.document(loaded);
      const structured = {
        source: loaded.display,
        type: info.type,
        mime_type: info.mimeType,
        bytes: loaded.bytes.byteLength,
        ...(info.title ? { title: info.title } : {}),
        ...(info.author ? { author: info.author } : {}),
        ...(info.created ? { created: info.created } : {}),
        ...(info.modified ? { modified: info.modified } : {}),
        ...(info.pages !== undefined ? { pages: info.pages } : {}),
        ...(info.sheets ? { sheets: info.sheets } : {}),
        ...(info.slides !== undefined ? { slides: info.slides } : {}),
        sections: sections.length,
        tables: sections.reduce((count, section) => count + (section.tables?.length ?? 0), 0),
        characters: sections.reduce((count, section) => count + section.markdown.length + 2, -2),
        outline: info.outline ?? [],
        notes: info.notes ?? [],
        properties: info.properties ?? {},
      };
      // A line per fact, so one section: sections are set apart by blank lines.
      const facts = [
        info.title && `Title: ${info.title}`,
        info.author && `Author: ${info.author}`,
        info.created && `Created: ${info.created}`,
        info.modified && `Modified: ${info.modified}`,
        info.pages !== undefined && `Pages: ${info.pages}`,
        info.sheets && `Sheets: ${info.sheets.join(', ')}`,
        info.slides !== undefined && `Slides: ${info.slides}`,
        `Sections: ${structured.sections}; tables: ${structured.tables}; markdown length: ${structured.characters.toLocaleString('en-US')} characters`,
        ...Object.entries(structured.properties).map(([key, value]) => `${key}: ${value}`),
        structured.outline.length > 0 && `Outline:\n${structured.outline.slice(0, 100).map((entry) => `- ${entry}`).join('\n')}`,
        ...structured.notes.map((note) => `Note: ${note}`),
      ];
      return respond<typeof structured>()
        .text([`${loaded.display}: ${info.type} (${info.mimeType}), ${structured.bytes.toLocaleString('en-US')} bytes`, ...facts].filter(Boolean).join('\n'))
        .structured(structured);
    },
  });
