import { defineTool, respond } from '@fathom/core';
import { z } from 'zod';
import type { FilesRuntime } from '../runtime.js';
import { sourceField } from './common.js';

const searchOutput = z.object({
  source: z.string(),
  total_matches: z.number().describe('Matching lines in the whole document'),
  matches: z.array(z.object({ location: z.string(), line: z.number(), passage: z.string() })),
});

export const searchDocument = (runtime: FilesRuntime) =>
  defineTool({
    name: 'search_document',
    title: 'Search a document',
    description:
      'Find passages in a document that contain a word or phrase (case-insensitive) or match a regular expression, ' +
      'with the page, sheet, slide or line where each stands and the lines around it. Cheaper than reading it all.',
    input: z.object({
      source: sourceField,
      query: z.string().min(1).max(500).describe('Text to find, or a regular expression when regex is true'),
      regex: z.boolean().default(false).describe('Treat query as a JavaScript regular expression (case-insensitive)'),
      context_lines: z.number().int().min(0).max(20).default(2).describe('Lines shown before and after each match'),
      max_results: z.number().int().min(1).max(200).default(20).describe('Most passages to return'),
    }),
    output: searchOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    async handle({ source, query, regex, context_lines, max_results }, context) {
      const loaded = await runtime.load(source, context);
      const document = await runtime.document(loaded);
      const sections = document.sections.map(({ kind, index, name, markdown }) => ({ kind, index, name, markdown }));
      const { matches, total } = await runtime.search({ sections, query, regex, contextLines: context_lines, maxResults: max_results });
      const header =
        total === 0
          ? `No match for "${query}" in ${loaded.display}.`
          : `${total} matching line${total === 1 ? '' : 's'} for "${query}" in ${loaded.display}` +
            (matches.length < total ? ` (showing ${matches.length} passages; raise max_results or narrow the query)` : '') +
            ':';
      const response = respond<z.infer<typeof searchOutput>>().heading(header).structured({ source: loaded.display, total_matches: total, matches });
      for (const match of matches) response.text(`--- ${match.location} ---\n${match.passage}`);
      return response;
    },
  });
