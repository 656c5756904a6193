import { defineTool, respond } from '@fathom/core';
import type { Tool, ToolResponse } from '@fathom/core';
import { z } from 'zod';
import { findInPage } from '../snapshot.js';
import type { FindMatch } from '../snapshot.js';
import { viewCharsField } from '../runtime.js';
import type { ToolRuntime } from '../runtime.js';
import { contextIdField } from './contexts.js';

const annotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

const snapshotOutput = z.object({
  url: z.string(),
  title: z.string(),
  mode: z.enum(['markdown', 'aria']),
  start: z.number().describe('Offset of the first character returned'),
  end: z.number().describe('Offset after the last character returned'),
  total_chars: z.number().describe('Length of the whole view'),
  next_cursor: z.string().optional().describe('Pass as cursor to read on; absent at the end'),
});

const findOutput = z.object({
  url: z.string(),
  total: z.number().describe('Matches on the page'),
  matches: z.array(
    z.object({
      text: z.string().describe('The text of the element the match is in, cut to about 300 characters'),
      ref: z.string().optional(),
      actionable: z.boolean().describe('Whether the ref is a link, button or field (else plain text)'),
    }),
  ),
});

const PLAIN_TEXT_NOTE =
  '"plain text": no link, button or field holds that text. Its ref still works with browser_scroll, browser_hover, ' +
  'browser_screenshot and browser_click (a click does something only where the page handles it); the links and fields are in browser_snapshot.';

/** Reading the page: browser_snapshot (the whole view, in parts) and browser_find (matches with their refs). */
export function readTools(runtime: ToolRuntime): { snapshot: Tool; find: Tool } {
  const snapshot = defineTool({
    name: 'browser_snapshot',
    title: 'View the page',
    description:
      'The current page as a compact view: "markdown" (readable content with [ref=mN] on links, buttons and fields; default) or "aria" ' +
      '(the accessibility tree with [ref=eN]). Long pages come in parts: pass the cursor to continue.',
    input: z.object({
      mode: z.enum(['markdown', 'aria']).default('markdown'),
      max_chars: viewCharsField(200_000, 20_000),
      cursor: z.string().optional(),
      context_id: contextIdField,
    }),
    output: snapshotOutput,
    annotations,
    async handle({ mode, max_chars, cursor, context_id }, context) {
      const session = await runtime.session(context, context_id);
      const page = await runtime.openPage(session);
      const title = await session.read(page, () => page.title());
      const text = await runtime.fullView(session, mode);
      const response = runtime.onPage(session, page, [`Title: ${title}`]) as ToolResponse<z.infer<typeof snapshotOutput>>;
      const slice = response.body(text, { maxChars: max_chars, cursor });
      return response.structured({
        url: page.url(),
        title,
        mode,
        start: slice.start,
        end: slice.end,
        total_chars: slice.total,
        ...(slice.nextCursor ? { next_cursor: slice.nextCursor } : {}),
      });
    },
  });

  const find = defineTool({
    name: 'browser_find',
    title: 'Find on the page',
    description:
      'Find text (or a regex) on the page: each match with the text of the element it is in (a paragraph, list item, table row; ' +
      'cut to about 300 characters around the match) and the ref of the element that holds it: the link, button or field, ' +
      'else the plain element, marked "plain text".',
    input: z.object({ query: z.string().min(1).max(500), regex: z.boolean().default(false), context_id: contextIdField }),
    output: findOutput,
    annotations,
    async handle({ query, regex, context_id }, context) {
      const session = await runtime.session(context, context_id);
      const page = await runtime.openPage(session);
      const { matches, total } = await findInPage(page, query, { regex, limit: 20, matcher: runtime.manager.matcher }, (script) =>
        session.read(page, () => page.evaluate(script)),
      );
      const url = session.current.url();
      const response = respond<z.infer<typeof findOutput>>().structured({
        url,
        total,
        matches: matches.map((match) => ({ text: match.text, ...(match.ref ? { ref: match.ref } : {}), actionable: match.actionable })),
      });
      if (!total) return response.text(`No match for ${regex ? '/' + query + '/' : `"${query}"`} on ${url}.`);
      const mark = (match: FindMatch) => (match.actionable ? ` [ref=${match.ref}]` : match.ref ? ` [ref=${match.ref}, plain text]` : ' [plain text]');
      const shown = matches.map((match, index) => `${index + 1}. ${match.text}${mark(match)}`).join('\n');
      return response
        .text(`${total} match${total === 1 ? '' : 'es'}${matches.length < total ? ` (first ${matches.length})` : ''}:\n${shown}`)
        .note(matches.some((match) => !match.actionable) ? PLAIN_TEXT_NOTE : undefined);
    },
  });

  return { snapshot, find };
}
