import { defineTool, respond } from '@fathom/core';
import { z } from 'zod';
import { tableMarkdown } from '../convert/markdown.js';
import type { Table } from '../convert/types.js';
import type { FilesRuntime } from '../runtime.js';
import { pagesField, select, sheetField, sourceField } from './common.js';

const MAX_CELLS = 50_000;

const tablesOutput = z.object({
  source: z.string(),
  tables: z.array(
    z.object({
      location: z.string(),
      caption: z.string().optional(),
      header: z.array(z.string()),
      rows: z.array(z.array(z.string())),
    }),
  ),
  truncated: z.boolean().describe(`True when the tables held more than ${MAX_CELLS} cells and the rest were left out`),
});

export const extractTables = (runtime: FilesRuntime) =>
  defineTool({
    name: 'extract_tables',
    title: 'Extract tables',
    description:
      'The tables of a document (PDF pages where the layout allows, Word, Excel/CSV sheets, slides, HTML) as a header ' +
      'and rows of cell text, with where each stands. Use pages/sheet to take only some.',
    input: z.object({ source: sourceField, pages: pagesField, sheet: sheetField }),
    output: tablesOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ source, pages, sheet }, context) {
      const loaded = await runtime.load(source, context);
      const document = await runtime.document(loaded);
      const { sections } = select(document, pages, sheet);
      const tables: Table[] = [];
      let cells = 0;
      let truncated = false;
      for (const table of sections.flatMap((section) => section.tables ?? [])) {
        const size = (table.rows.length + 1) * Math.max(table.header.length, 1);
        if (cells + size > MAX_CELLS) {
          const room = Math.max(0, Math.floor((MAX_CELLS - cells) / Math.max(table.header.length, 1)) - 1);
          if (room > 0) tables.push({ ...table, rows: table.rows.slice(0, room) });
          truncated = true;
          break;
        }
        cells += size;
        tables.push(table);
      }
      const response = respond<z.infer<typeof tablesOutput>>().structured({ source: loaded.display, tables, truncated });
      if (tables.length === 0) return response.text(`No tables found in ${loaded.display}.`);
      for (const table of tables) response.text(`### ${table.location}\n\n${tableMarkdown(table)}`);
      return response.text(truncated ? `[More tables left out: over ${MAX_CELLS} cells. Ask for fewer pages or one sheet.]` : undefined);
    },
  });
